// The trainers against their specifications. MeTA-LoRA and its −STA ablation: one whole iteration of the GPU
// trainer (createMetaTrainer.iterate: episode sampling, θ_i copies, inner SGD, query gradients, mean, clip,
// AdamW) against the float64 reference iteration (src/reference/metaIteration.ts, gradients by finite
// differences) on the same sampled episodes and dropout seeds, from a mid-run state (random θ with B ≠ 0,
// random AdamW moments at step 5) so that every part of the update matters. Plain LoRA: the per-task
// sub-batches with rescaling give the mixed batch's own gradient. MTL-LoRA: a step moves only the shared
// tensors and the batch's task's Λ_t and w_t.
//
// Tolerances. Model: 2 layers, dim 16, vocab 40, LoRA rank 2 on q and v, K = 2 tasks, |S| = |Q| = 2, 2 inner
// steps. The finite differences are float64 with h = 1e-5 (error ≲ 1e-9, negligible). One f32 training step
// has per-coordinate gradient error ≤ 2⁻¹² of the tensor's largest |gradient| (tests/unit/trainStep.test.ts
// derives it); an iteration chains 3 of them per task through the inner SGD steps, where an error δg moves
// θ_i by α·δg and the next gradient by ‖H‖·α·δg with α‖H‖ < 1 at innerLr 0.1 here, so the outer gradient
// stays within ~3·2⁻¹² ≈ 2⁻¹⁰ relative. Compared quantities: losses 1e-5 relative (f32 forward, as the step
// test); the clip {norm, factor} 2⁻¹⁰ relative; m_new − β1·m = (1−β1)·c·g and v_new − β2·v = (1−β2)·(c·g)²
// within 2⁻¹⁰ (2⁻⁹ for v, a square) of their tensor's largest value, beyond the f32 rounding of the stored
// moment. The previous moments are small (m ~ 1e-4, v ~ 1e-9), so this step's gradient dominates both and
// the update u = (lr/bc1)·m̂/(√v̂ + eps) is a ratio of moments of magnitude ≤ lr·(1−β1)√bc2/(bc1√(1−β2)) ≈
// 0.54·lr at step 5; relative moment errors ε_m + ε_v/2 ≲ 1.5·2⁻¹⁰ then move it by < 2⁻¹⁰·lr, the bound on
// θ_new − θ. Where a coordinate's gradient is tiny the old moments dominate and u barely depends on it.
// Observed errors (printed) are ~2⁻¹⁸. Dropping the inner adaptation from the query pass, or the 1/K of the
// mean, fails these bounds by 300× or more. The greedy decoder used by exact-match evaluation is checked
// against the KV-cached generator.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { metaIterationRef } from '../../src/reference/metaIteration';
import { packBatch } from '../../src/train/batch';
import { MetaEpisodeSampler, MixedBatchSampler } from '../../src/train/episodes';
import { Rng } from '../../src/util/rng';
import { createAdapterFor } from '../../src/train/run';
import { DEFAULT_SETTINGS, type TrainMethod, resolveSettings } from '../../src/train/settings';
import { createGrads, trainStep } from '../../src/train/step';
import { type TrainerEnv, paramLike } from '../../src/train/trainers/common';
import { createLoraTrainer } from '../../src/train/trainers/lora';
import { createMetaTrainer } from '../../src/train/trainers/metaLora';
import { createMtlTrainer, taskOfParam } from '../../src/train/trainers/mtlLora';
import { adamwStep } from '../../src/ops/optimizer';
import { generate } from '../../src/model/generate';
import { greedyDecode } from '../../src/train/decode';
import { parseEvalTask, taskKind } from '../../src/train/evaluate';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';
import { randomTask, tinyTrainModel } from '../helpers/tinyTrain';

const seed = freshSeed();
const LOSS_TOL = 1e-5;
const REL_TOL = 2 ** -10;

const readAll = (ctx: GpuContext, list: readonly Tensor<'f32'>[]) => Promise.all(list.map((t) => ctx.read(t)));
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Largest |got − want| over a list, relative to each tensor's largest |want| (absolute `floor` for zero tensors). */
function worstRel(got: readonly ArrayLike<number>[], want: readonly ArrayLike<number>[], floor: number): number {
  let worst = 0;
  got.forEach((g, t) => {
    const s = Math.max(maxAbs(want[t]), floor);
    for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - want[t][i]) / s);
  });
  return worst;
}

/**
 * A moment's new value against the reference, measured on its increment (new − β·old, where the gradient
 * enters) relative to the tensor's largest increment, after allowing the f32 rounding of the stored value
 * itself (u = 2⁻²⁴ of |new| per operation, 2 operations): v's increment (1−β2)(c·g)² is far smaller than v.
 */
function momentError(
  got: readonly Float32Array[],
  want: readonly Float64Array[],
  old: readonly Float32Array[],
  beta: number,
): number {
  let worst = 0;
  got.forEach((g, t) => {
    const inc = want[t].map((x, i) => x - beta * old[t][i]);
    const s = Math.max(maxAbs(inc), 1e-30);
    for (let i = 0; i < g.length; i++) {
      const excess = Math.abs(g[i] - want[t][i]) - 2 ** -23 * Math.abs(want[t][i]);
      worst = Math.max(worst, excess / s);
    }
  });
  return worst;
}

describe(`MeTA-LoRA iteration vs float64 reference (seed ${seed})`, () => {
  // The rates of the first row make every part of the update large; the second is the shipped defaults'.
  const RATES = [
    { innerLr: 0.1, lr: 0.01 },
    { innerLr: DEFAULT_SETTINGS.innerLr, lr: DEFAULT_SETTINGS.lr },
  ];
  for (const method of ['meta-lora', 'meta-lora-no-sta'] as TrainMethod[])
    for (const rates of RATES) {
      it(`${method} at innerLr ${rates.innerLr}, lr ${rates.lr}: losses, clip, AdamW moments and parameters after one iteration`, async () => {
        const ctx = await gpu();
        const random = rng(seed + (method === 'meta-lora' ? 1 : 2));
        const m = tinyTrainModel(ctx, random);
        const tasks = ['a', 'b', 'c'].map((name) => randomTask(name, 6, m.cfg.vocabSize, random));
        const s = resolveSettings(method, {
          seed,
          rank: 2,
          loraAlpha: 4,
          dropout: 0.1,
          targets: ['q', 'v'],
          examplesPerTask: 6,
          tasksPerIteration: 2,
          supportSize: 2,
          querySize: 2,
          innerSteps: 2,
          ...rates,
          gradClip: 0.02,
          weightDecay: 0.01,
        });
        const adapter = createAdapterFor(ctx, m.cfg, s, tasks.length);
        // Mid-run state: A at init, B random (else dA = 0), moments from earlier steps; the update is step 5.
        const theta = adapter.params.map((p, i) =>
          /lora_B/.test(adapter.names[i]) ? randomF32(p.numel, random).map((v) => 0.3 * v) : null,
        );
        theta.forEach((t, i) => t && ctx.writeTensor(adapter.params[i], t));
        const values = await readAll(ctx, adapter.params);
        const m0 = values.map((t) => randomF32(t.length, random).map((v) => 1e-4 * v));
        const v0 = values.map((t) => Float32Array.from({ length: t.length }, () => (0.5 + random()) * 1e-9));
        const dropout = Rng.fromSeed(seed ^ 0x5eed);
        const seeds = Rng.fromState(dropout.getState());
        const env: TrainerEnv = {
          ctx,
          model: { weights: m.weights, config: m.cfg },
          adapter,
          tasks,
          settings: s,
          dropout,
        };
        const trainer = createMetaTrainer(env, Rng.fromSeed(seed + 7), method === 'meta-lora');
        trainer.optimizer.m.forEach((t, i) => ctx.writeTensor(t, m0[i]));
        trainer.optimizer.v.forEach((t, i) => ctx.writeTensor(t, v0[i]));
        const iteration = 4;
        const out = await trainer.iterate(iteration, s.lr);
        const [params, mNew, vNew] = await Promise.all(
          [adapter.params, trainer.optimizer.m, trainer.optimizer.v].map((l) => readAll(ctx, l)),
        );

        // The same episodes and seeds for the reference.
        const episodes = new MetaEpisodeSampler(
          tasks.map((t) => t.train.length),
          s,
          Rng.fromSeed(seed + 7),
        ).next();
        const passes = method === 'meta-lora' ? s.innerSteps + 1 : 1;
        const t0 = performance.now();
        const pack = (task: number, indices: number[]) => packBatch(indices.map((i) => tasks[task].train[i]));
        const theta0 = {
          settings: adapter.settings,
          names: adapter.names,
          values: values.map((v) => Float64Array.from(v)),
        };
        const want = metaIterationRef(
          m.ref,
          m.cfg,
          theta0,
          episodes.map((e) => ({ support: pack(e.task, e.support), query: pack(e.task, e.query) })),
          {
            sta: method === 'meta-lora',
            innerSteps: s.innerSteps,
            innerLr: s.innerLr,
            gradClip: s.gradClip,
            h: 1e-5,
            m: m0,
            v: v0,
            seeds: Array.from({ length: episodes.length * passes }, () => seeds.nextU32()),
            adamw: {
              lr: s.lr,
              step: iteration + 1,
              beta1: s.beta1,
              beta2: s.beta2,
              eps: 1e-8,
              weightDecay: s.weightDecay,
            },
          },
        );
        const refMs = performance.now() - t0;

        expect(out.nonFinite).toBe(false);
        expect(out.tasks.map((t) => t.task)).toEqual(episodes.map((e) => e.task));
        out.tasks.forEach((t, i) => {
          expect(Math.abs(t.query - want.query[i])).toBeLessThan(LOSS_TOL * want.query[i]);
          if (want.support[i] === null) expect(t.support).toBeNull();
          else expect(Math.abs(t.support! - want.support[i]!)).toBeLessThan(LOSS_TOL * want.support[i]!);
        });
        // Clipping is active, so the factor (and with it every moment and update) depends on the norm.
        expect(want.clip[1]).toBeLessThan(1);
        expect(Math.abs(out.gradNorm - want.clip[0])).toBeLessThan(REL_TOL * want.clip[0]);
        const dm = momentError(mNew, want.m, m0, s.beta1);
        const dv = momentError(vNew, want.v, v0, s.beta2);
        const decayed = (t: ArrayLike<number>) => Array.from(t, (x) => x * (1 - s.lr * s.weightDecay));
        let du = 0;
        params.forEach((p, i) => {
          const d = decayed(values[i]);
          for (let j = 0; j < p.length; j++)
            du = Math.max(du, Math.abs(p[j] - d[j] - (want.params[i][j] - d[j])) / s.lr);
        });
        console.log(
          `${method}: query ${out.tasks.map((t) => t.query.toFixed(5))}, clip factor ${want.clip[1].toFixed(4)}; ` +
            `errors m ${dm.toExponential(2)}, v ${dv.toExponential(2)}, update/lr ${du.toExponential(2)} (reference ${refMs.toFixed(0)} ms)`,
        );
        expect(dm).toBeLessThan(REL_TOL);
        expect(dv).toBeLessThan(2 * REL_TOL);
        expect(du).toBeLessThan(REL_TOL);
        trainer.release();
        adapter.release();
      });
    }
});

describe(`plain LoRA and MTL-LoRA trainers (seed ${seed})`, () => {
  it("lora: per-task sub-batches rescaled give the mixed batch's own AdamW step", async () => {
    const ctx = await gpu();
    const random = rng(seed + 3);
    const m = tinyTrainModel(ctx, random);
    const model = { weights: m.weights, config: m.cfg };
    const tasks = ['a', 'b', 'c'].map((name) => randomTask(name, 5, m.cfg.vocabSize, random));
    const s = resolveSettings('lora', {
      seed,
      rank: 2,
      loraAlpha: 4,
      targets: ['q', 'v', 'o'],
      examplesPerTask: 5,
      batchSize: 5,
      gradClip: 0,
    });
    const adapter = createAdapterFor(ctx, m.cfg, s, 3);
    const twin = createAdapterFor(ctx, m.cfg, s, 3);
    const trainer = createLoraTrainer(
      { ctx, model, adapter, tasks, settings: s, dropout: Rng.fromSeed(1) },
      Rng.fromSeed(seed),
    );
    const out = await trainer.iterate(0, s.lr);
    // Directly: one trainStep on the whole mixed batch, then AdamW (clipping off, step 1).
    const items = new MixedBatchSampler([5, 5, 5], s.batchSize, Rng.fromSeed(seed)).next();
    expect(out.tasks.map((t) => t.task)).toEqual([...new Set(items.map((it) => it.task))].sort());
    const grads = createGrads(ctx, twin);
    const total = trainStep(
      ctx,
      model,
      twin,
      packBatch(items.map((it) => tasks[it.task].train[it.index])),
      { task: 0, dropoutSeed: 0, params: twin.params },
      grads,
    );
    const [sum, count] = await ctx.read(total);
    const direct = await readAll(ctx, grads);
    const [m1, v1] = [paramLike(ctx, twin), paramLike(ctx, twin)];
    adamwStep(ctx, twin.params, grads, m1, v1, { lr: s.lr, step: 1, weightDecay: s.weightDecay });
    expect(Math.abs(out.objective - sum / count)).toBeLessThan(LOSS_TOL * out.objective);
    // The gradient's scale shows in its norm (a wrong rescaling between sub-batches changes it; the first AdamW
    // step, −lr·g/(|g| + eps), is blind to scale). f32 sums over ~100 terms: 1e-5 relative.
    const norm = Math.sqrt(direct.reduce((a, g) => a + g.reduce((b, x) => b + x * x, 0), 0));
    expect(Math.abs(out.gradNorm - norm)).toBeLessThan(1e-5 * norm);
    // The parameters after the step agree to 1e-3 of each tensor's largest value (only a gradient coordinate
    // within f32 noise of zero could flip its update's sign; B = 0 makes dA exactly 0 on both sides).
    const [got, want] = [await readAll(ctx, adapter.params), await readAll(ctx, twin.params)];
    expect(worstRel(got, want, 1e-30)).toBeLessThan(1e-3);
    expect(got.some((t, i) => /lora_B/.test(adapter.names[i]) && t.some((x) => x !== 0))).toBe(true);
    [total, ...grads, ...m1, ...v1].forEach((t) => t.release());
    trainer.release();
    [adapter, twin].forEach((a) => a.release());
  });

  it("mtl-lora: one iteration moves the shared tensors and only its own task's Λ_t and w_t", async () => {
    const ctx = await gpu();
    const random = rng(seed + 4);
    const m = tinyTrainModel(ctx, random);
    // Prompts of at least two tokens: a batch whose every scored position is position 0 attends to one key
    // only, so its query gradient (and q_proj's B gradient) is exactly zero and B would rightly not move.
    const tasks = ['a', 'b']
      .map((name) => randomTask(name, 4, m.cfg.vocabSize, random))
      .map((t) => ({ ...t, train: t.train.map((e) => ({ ...e, prompt: [3, ...e.prompt] })) }));
    const s = resolveSettings('mtl-lora', {
      seed,
      rank: 2,
      loraAlpha: 4,
      targets: ['q', 'v'],
      examplesPerTask: 4,
      batchSize: 2,
    });
    const adapter = createAdapterFor(ctx, m.cfg, s, 2);
    const before = await readAll(ctx, adapter.params);
    const env = {
      ctx,
      model: { weights: m.weights, config: m.cfg },
      adapter,
      tasks,
      settings: s,
      dropout: Rng.fromSeed(2),
    };
    const trainer = createMtlTrainer(env, Rng.fromSeed(seed));
    const out = await trainer.iterate(0, 0.01);
    const after = await readAll(ctx, adapter.params);
    const task = out.tasks[0].task;
    adapter.names.forEach((name, i) => {
      const owner = taskOfParam(name);
      const moved = after[i].some((x, j) => x !== before[i][j]);
      // A's gradient is 0 while every B^i is 0 (first step), but weight decay still moves it.
      expect(moved, name).toBe(owner === null || owner === task);
    });
    trainer.release();
    adapter.release();
  });
});

describe('evaluation pieces', () => {
  it('batched greedy decoding through the training forward equals the KV-cached generator (zero adapter = base)', async () => {
    const ctx = await gpu();
    const m = tinyTrainModel(ctx, rng(seed + 5));
    const adapter = createAdapterFor(ctx, m.cfg, resolveSettings('lora', { rank: 2, targets: ['q', 'v'] }), 1);
    // Prompts of different lengths: each sequence's next token comes from its own last position.
    const prompts = [[5, 9, 13], [7], [20, 4, 8, 30, 2]];
    const got = await greedyDecode(
      ctx,
      { weights: m.weights, config: m.cfg },
      adapter,
      { task: 0, dropoutSeed: 0, params: adapter.params },
      prompts,
      { maxNewTokens: 6, eosId: null },
    );
    for (const [i, p] of prompts.entries()) {
      const want = await generate(ctx, m.weights, m.cfg, p, { maxNewTokens: 6, greedy: true });
      expect(got[i], `prompt ${i}`).toEqual(want.tokens);
    }
    adapter.release();
  });

  it('task files: choices are optional, must include the completion; all-choices tasks are multiple-choice', () => {
    const mc = parseEvalTask(
      't',
      '{"prompt":"a","completion":" x","choices":[" x"," y"]}\n\n{"prompt":"b","completion":" y","choices":[" x"," y"]}\n',
    );
    expect(mc.examples[1].choices).toEqual([' x', ' y']);
    expect(taskKind(mc.examples)).toBe('multiple-choice');
    expect(
      taskKind(
        parseEvalTask('t', '{"prompt":"a","completion":" x","choices":[" x"," y"]}\n{"prompt":"b","completion":"z"}')
          .examples,
      ),
    ).toBe('generation');
    expect(() =>
      parseEvalTask('t', '{"prompt":"a","completion":" x"}\n{"prompt":"a","completion":" x","choices":[" y"," z"]}'),
    ).toThrow(/task t, line 2: the completion " x" is not one of the choices/);
    expect(() => parseEvalTask('t', '{"prompt":"a","completion":" x","choices":" x"}')).toThrow(
      /at least two non-empty strings/,
    );
  });
});
