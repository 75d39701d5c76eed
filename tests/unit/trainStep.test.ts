// The GPU training step against the float64 specification (src/reference/llamaAdapter.ts): its loss against
// the reference loss, and the gradient of every adapter tensor against central finite differences of the
// reference loss, on a tiny random model (2 layers, GQA, a padded batch of two sequences with masked prompt
// tokens), for LoRA on all seven targets and for MTL-LoRA on a Qwen2-shaped model with q/k/v biases.
//
// Tolerances. The finite differences are float64 with h = 1e-5: truncation h²·|f'''|/6 and cancellation
// ~1e-15·|L|/h are both ≤ 1e-9, negligible. The GPU side is float32 throughout. Each gradient is a sum, over
// tokens, of products along the backward chain (head, final norm, blocks); every term carries relative error
// ≲ γ_K with K the total accumulation depth of its chain (vocab + the dot lengths of each projection,
// attention and norm on the way: K < 2000 here, γ_K = K·u/(1−K·u) ≈ 1.2e-4, u = 2⁻²⁴), so a coordinate is
// off by at most γ_K·Σ|terms|. Σ|terms| of a coordinate stays within a small multiple of the tensor's largest
// |gradient| at this size (moderate cancellation between tokens and heads), so we allow 2⁻¹² ≈ 2.4e-4 of the
// tensor's largest |gradient| per coordinate (≈ 2γ_K); observed ≤ 4e-6 (printed). Breaking the step (the v
// site's dx dropped, dk not rotated back, a 1/(count+1) mean) fails this bound by 14× or more.
// The loss is a float32 forward (the same chains, then log-sum-exp, whose errors mostly average out in the
// mean): 1e-5 relative, observed ~1e-7.

import { describe, expect, it } from 'vitest';
import { createLora } from '../../src/adapters/lora';
import { createMtlLora } from '../../src/adapters/mtlLora';
import type { Adapter, LoraSettings, MtlLoraSettings } from '../../src/adapters/types';
import { ALL_TARGETS } from '../../src/adapters/types';
import type { GpuContext } from '../../src/gpu/context';
import type { LlamaConfig } from '../../src/model/config';
import type { ModelWeights } from '../../src/model/weights';
import { uploadWeight } from '../../src/ops/weight';
import { type RefAdapter, llamaAdapterLossRef } from '../../src/reference/llamaAdapter';
import type { LlamaRefWeights } from '../../src/reference/llama';
import type { HostWeight } from '../../src/reference/linear';
import type { HeadLossOptions } from '../../src/train/headLoss';
import { createGrads, evalLosses, scoredTokens, trainStep, type TrainBatch } from '../../src/train/step';
import { gpu } from '../helpers/gpu';
import { numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';
import { encodeWeight, type GgufMatrixType } from '../helpers/randomModel';

const seed = freshSeed();
const GRAD_TOL = 2 ** -12;
const LOSS_TOL = 1e-5;
const FD_STEP = 1e-5;
const COORDS_PER_TENSOR = 6;

interface Tiny {
  cfg: LlamaConfig;
  ref: LlamaRefWeights;
  weights: ModelWeights;
}

/** A random model in memory, host and GPU sides holding the same bytes; matrices U(±√3/√in) (unit gain). */
function tinyModel(
  ctx: GpuContext,
  arch: 'llama' | 'qwen2',
  type: GgufMatrixType,
  random: () => number,
  vocabSize = 64,
): Tiny {
  const cfg: LlamaConfig = {
    arch,
    dim: 32,
    hiddenDim: 64,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    headDim: 8,
    vocabSize,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropePairing: arch === 'llama' ? 'adjacent' : 'half',
    ropeScaling: null,
    tiedEmbeddings: arch === 'qwen2',
    contextLength: 64,
    qkvBias: arch === 'qwen2',
  };
  const mat = (rows: number, cols: number, gain = Math.sqrt(3 / cols)) =>
    encodeWeight(
      randomF32(rows * cols, random).map((v) => v * gain),
      rows,
      cols,
      type,
    );
  const vec = (n: number, base: number, spread: number) => randomF32(n, random).map((v) => base + spread * v);
  const up = (w: HostWeight) => uploadWeight(ctx, w.type, w.rows, w.cols, w.bytes);
  const { dim, hiddenDim: hid, vocabSize: V } = cfg;
  const embed = mat(V, dim, Math.sqrt(3));
  const ref: LlamaRefWeights = {
    embed,
    outNorm: vec(dim, 1, 0.2),
    head: cfg.tiedEmbeddings ? embed : mat(V, dim),
    layers: Array.from({ length: cfg.nLayers }, () => ({
      attnNorm: vec(dim, 1, 0.2),
      wq: mat(32, dim),
      wk: mat(16, dim),
      wv: mat(16, dim),
      wo: mat(dim, 32),
      ...(cfg.qkvBias ? { bq: vec(32, 0, 0.5), bk: vec(16, 0, 0.5), bv: vec(16, 0, 0.5) } : {}),
      ffnNorm: vec(dim, 1, 0.2),
      gate: mat(hid, dim),
      up: mat(hid, dim),
      down: mat(dim, hid),
    })),
  };
  const f32 = (v: ArrayLike<number> | undefined) => (v ? ctx.upload(Float32Array.from(v), [v.length]) : undefined);
  const embedGpu = up(embed);
  const weights: ModelWeights = {
    embed: embedGpu,
    outNorm: f32(ref.outNorm)!,
    head: cfg.tiedEmbeddings ? embedGpu : up(ref.head),
    layers: ref.layers.map((l) => ({
      attnNorm: f32(l.attnNorm)!,
      wq: up(l.wq),
      wk: up(l.wk),
      wv: up(l.wv),
      wo: up(l.wo),
      bq: f32(l.bq),
      bk: f32(l.bk),
      bv: f32(l.bv),
      ffnNorm: f32(l.ffnNorm)!,
      gate: up(l.gate),
      up: up(l.up),
      down: up(l.down),
    })),
  };
  return { cfg, ref, weights };
}

/** B sequences of S tokens, each with a random length ≥ 2 and a 1-token prompt, padded to S. */
function randomBatch(V: number, B: number, S: number, random: () => number): TrainBatch {
  const lengths = Uint32Array.from({ length: B }, () => 2 + Math.floor(random() * (S - 1)));
  const tokens = Uint32Array.from({ length: B * S }, () => Math.floor(random() * V));
  const targets = Int32Array.from({ length: B * S }, (_, i) => {
    const s = i % S;
    return s >= 1 && s < lengths[Math.floor(i / S)] ? Math.floor(random() * V) : -1;
  });
  return { B, S, tokens, targets, lengths };
}

/** Two sequences padded to S = 9: lengths 9 and 6, the first 3 and 2 tokens prompt (unscored). */
function tinyBatch(V: number, random: () => number): TrainBatch {
  const B = 2,
    S = 9,
    lengths = Uint32Array.of(9, 6),
    prompt = [3, 2];
  const tokens = Uint32Array.from({ length: B * S }, () => Math.floor(random() * V));
  const targets = Int32Array.from({ length: B * S }, (_, i) => {
    const [b, s] = [Math.floor(i / S), i % S];
    return s >= prompt[b] && s < lengths[b] ? Math.floor(random() * V) : -1;
  });
  return { B, S, tokens, targets, lengths };
}

/** Overwrites every parameter with random values (B = 0 would make dA vanish), returns them by name. */
async function randomizeParams(
  ctx: GpuContext,
  adapter: Adapter,
  random: () => number,
): Promise<Map<string, Float64Array>> {
  const byName = new Map<string, Float64Array>();
  for (const [i, p] of adapter.params.entries()) {
    const name = adapter.names[i];
    // A keeps its init scale; the rest U(±0.3): large enough that every branch shapes the loss.
    const values = /_A\.weight$/.test(name) ? await ctx.read(p) : randomF32(p.numel, random).map((v) => 0.3 * v);
    ctx.writeTensor(p, values);
    byName.set(name, Float64Array.from(values));
  }
  return byName;
}

/** Runs one step and compares loss and (per tensor) FD gradients on random coordinates; returns the grads. */
async function checkStep(
  ctx: GpuContext,
  m: Tiny,
  adapter: Adapter,
  refOf: (p: Map<string, Float64Array>) => RefAdapter,
  batch: TrainBatch,
  task: number,
  random: () => number,
): Promise<Float32Array[]> {
  const params = await randomizeParams(ctx, adapter, random);
  const run = { task, dropoutSeed: (seed * 13 + 5) >>> 0, params: adapter.params };
  const grads = createGrads(ctx, adapter);
  const total = trainStep(ctx, { weights: m.weights, config: m.cfg }, adapter, batch, run, grads);
  const [sum, count] = await ctx.read(total);
  const got = await Promise.all(grads.map((g) => ctx.read(g)));
  [total, ...grads].forEach((t) => t.release());

  const refLoss = (p: Map<string, Float64Array>) =>
    llamaAdapterLossRef(m.ref, m.cfg, batch, { ...refOf(p), dropoutSeed: run.dropoutSeed });
  const want = refLoss(params);
  expect(count).toBe(want.count);
  expect(Math.abs(sum / count - want.loss)).toBeLessThan(LOSS_TOL * want.loss);
  let worst = 0;
  adapter.names.forEach((name, i) => {
    const values = params.get(name)!;
    const scale = got[i].reduce((a, v) => Math.max(a, Math.abs(v)), 0);
    const coords = Array.from({ length: COORDS_PER_TENSOR }, () => Math.floor(random() * values.length));
    const fd = numericGrad((v) => refLoss(new Map(params).set(name, v)).loss, values, FD_STEP, coords);
    for (const c of coords) {
      const err = Math.abs(got[i][c] - fd[c]);
      if (scale > 0) worst = Math.max(worst, err / scale);
      expect(err, `${name}[${c}]: GPU ${got[i][c]} vs FD ${fd[c]}`).toBeLessThanOrEqual(GRAD_TOL * scale + 1e-9);
    }
  });
  console.log(
    `loss ${sum / count} vs ${want.loss} (rel ${Math.abs(sum / count - want.loss) / want.loss}); ` +
      `worst gradient error / tensor max ${worst}`,
  );
  return got;
}

describe(`training step vs float64 reference (seed ${seed})`, () => {
  for (const dropout of [0, 0.3]) {
    it(`LoRA on all 7 targets, llama (adjacent RoPE, f32 weights), dropout ${dropout}`, async () => {
      const ctx = await gpu();
      const random = rng(seed + 1 + dropout * 10);
      const m = tinyModel(ctx, 'llama', 'F32', random);
      const settings: LoraSettings = { rank: 4, alpha: 8, dropout, targets: ALL_TARGETS };
      const adapter = createLora(ctx, m.cfg, settings, seed);
      const refOf = (params: Map<string, Float64Array>): RefAdapter => ({
        kind: 'lora',
        settings,
        params,
        dropoutSeed: 0,
      });
      const got = await checkStep(ctx, m, adapter, refOf, tinyBatch(m.cfg.vocabSize, random), 0, random);
      expect(got.every((g) => g.some((v) => v !== 0))).toBe(true);
      adapter.release();
    });
  }

  it('MTL-LoRA (3 up-projections, 2 tasks) on a Qwen2 model (biases, half RoPE, tied head, Q8_0 weights)', async () => {
    const ctx = await gpu();
    const random = rng(seed + 2);
    const m = tinyModel(ctx, 'qwen2', 'Q8_0', random);
    const settings: MtlLoraSettings = {
      rank: 4,
      alpha: 8,
      dropout: 0.2,
      targets: ALL_TARGETS,
      nUp: 3,
      tau: 0.5,
      tasks: 2,
      wInit: 'kaiming',
    };
    const adapter = createMtlLora(ctx, m.cfg, settings, seed);
    const task = 1;
    const refOf = (params: Map<string, Float64Array>): RefAdapter => ({
      kind: 'mtl-lora',
      settings,
      params,
      dropoutSeed: 0,
      task,
    });
    const got = await checkStep(ctx, m, adapter, refOf, tinyBatch(m.cfg.vocabSize, random), task, random);
    // The step's task gets gradients in every tensor; the other task's Λ and w none at all.
    adapter.names.forEach((name, i) => {
      const other = /_(Lambda\.0\.weight|w\.0)$/.test(name);
      expect(
        got[i].some((v) => v !== 0),
        name,
      ).toBe(!other);
    });
    adapter.release();
  });

  it('recompute gives the same gradients bit for bit; grads accumulate; eval matches the step and the reference', async () => {
    const ctx = await gpu();
    const random = rng(seed + 3);
    const m = tinyModel(ctx, 'llama', 'F16', random);
    const settings: LoraSettings = { rank: 4, alpha: 8, dropout: 0.1, targets: ['q', 'v', 'o', 'down'] };
    const adapter = createLora(ctx, m.cfg, settings, seed);
    const params = await randomizeParams(ctx, adapter, random);
    const batch = tinyBatch(m.cfg.vocabSize, random);
    const model = { weights: m.weights, config: m.cfg };
    const run = { task: 0, dropoutSeed: 77, params: adapter.params };
    const stepGrads = async (recompute: boolean, times: number) => {
      const grads = createGrads(ctx, adapter);
      const totals = Array.from({ length: times }, () =>
        trainStep(ctx, model, adapter, batch, run, grads, { recompute }),
      );
      const out = { total: await ctx.read(totals[0]), grads: await Promise.all(grads.map((g) => ctx.read(g))) };
      [...totals, ...grads].forEach((t) => t.release());
      return out;
    };
    const plain = await stepGrads(false, 1);
    const recomputed = await stepGrads(true, 1);
    expect(recomputed.total).toEqual(plain.total);
    recomputed.grads.forEach((g, i) => expect(g).toEqual(plain.grads[i]));
    // Two steps into the same list: every gradient exactly doubles (each site adds once per step).
    const twice = await stepGrads(false, 2);
    twice.grads.forEach((g, i) => expect(g).toEqual(plain.grads[i].map((v) => 2 * v)));

    const { total, losses } = evalLosses(ctx, model, adapter, batch, run);
    expect(await ctx.read(total)).toEqual(plain.total);
    const want = llamaAdapterLossRef(m.ref, m.cfg, batch, {
      kind: 'lora',
      settings,
      params,
      dropoutSeed: run.dropoutSeed,
    });
    const perToken = await ctx.read(losses);
    perToken.forEach((v, i) =>
      expect(Math.abs(v - want.losses[i])).toBeLessThanOrEqual(LOSS_TOL * (1 + want.losses[i])),
    );
    [total, losses].forEach((t) => t.release());
    adapter.release();
  });

  it('the head and loss in chunks of 64 rows give the one-chunk step bit for bit, training and evaluation', async () => {
    const ctx = await gpu();
    const random = rng(seed + 4);
    const m = tinyModel(ctx, 'llama', 'Q8_0', random);
    const settings: LoraSettings = { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'v'] };
    const adapter = createLora(ctx, m.cfg, settings, seed);
    await randomizeParams(ctx, adapter, random);
    const batch = randomBatch(m.cfg.vocabSize, 3, 50, random); // 150 rows: chunks of 64, 64 and 22
    const model = { weights: m.weights, config: m.cfg };
    const run = { task: 0, dropoutSeed: 5, params: adapter.params };
    const step = async (chunkRows: number) => {
      const grads = createGrads(ctx, adapter);
      const total = trainStep(ctx, model, adapter, batch, run, grads, { head: { chunkRows } });
      const evalOut = evalLosses(ctx, model, adapter, batch, run, { chunkRows });
      const out = {
        total: await ctx.read(total),
        grads: await Promise.all(grads.map((g) => ctx.read(g))),
        evalTotal: await ctx.read(evalOut.total),
        evalLosses: await ctx.read(evalOut.losses),
      };
      [total, evalOut.total, evalOut.losses, ...grads].forEach((t) => t.release());
      return out;
    };
    const whole = await step(192);
    const chunked = await step(64);
    expect(whole.total[1]).toBe(scoredTokens(batch));
    expect(chunked.total).toEqual(whole.total);
    chunked.grads.forEach((g, i) => expect(g, adapter.names[i]).toEqual(whole.grads[i]));
    expect(chunked.evalTotal).toEqual(whole.total);
    expect(chunked.evalLosses).toEqual(whole.evalLosses);
    expect(() => trainStep(ctx, model, adapter, batch, run, [], { head: { chunkRows: 100 } })).toThrow(/gradient/);
    expect(() => evalLosses(ctx, model, adapter, batch, run, { chunkRows: 100 })).toThrow(/multiple of 64/);
    adapter.release();
  });

  it('a step with a 32768-token vocabulary never holds its whole logits (dry run, pool peak)', async () => {
    const ctx = await gpu();
    const random = rng(seed + 5);
    const V = 32768;
    const m = tinyModel(ctx, 'llama', 'Q8_0', random, V);
    const adapter = createLora(ctx, m.cfg, { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'v'] }, seed);
    const batch = randomBatch(V, 16, 128, random); // 2048 rows: whole logits 256 MiB, chunks of 512 rows (64 MiB)
    const wholeLogits = batch.B * batch.S * V * 4;
    const model = { weights: m.weights, config: m.cfg };
    const run = { task: 0, dropoutSeed: 0, params: adapter.params };
    const peakOf = (record: () => void) => {
      ctx.setDryRun(true);
      ctx.pool.peakBytes = ctx.pool.inUseBytes;
      const before = ctx.pool.inUseBytes;
      try {
        record();
      } finally {
        ctx.setDryRun(false);
      }
      return ctx.pool.peakBytes - before;
    };
    const stepPeak = (head?: HeadLossOptions) =>
      peakOf(() => {
        const grads = createGrads(ctx, adapter);
        [trainStep(ctx, model, adapter, batch, run, grads, { head }), ...grads].forEach((t) => t.release());
      });
    const evalPeak = (head?: HeadLossOptions) =>
      peakOf(() => {
        const { total, losses } = evalLosses(ctx, model, adapter, batch, run, head);
        [total, losses].forEach((t) => t.release());
      });
    const [chunked, whole] = [stepPeak(), stepPeak({ chunkRows: batch.B * batch.S })];
    const [evalChunked, evalWhole] = [evalPeak(), evalPeak({ chunkRows: batch.B * batch.S })];
    console.log(
      `step peak above the model: chunked ${chunked / 2 ** 20} MiB, one chunk ${whole / 2 ** 20} MiB; ` +
        `eval ${evalChunked / 2 ** 20} vs ${evalWhole / 2 ** 20} MiB`,
    );
    expect(whole).toBeGreaterThanOrEqual(wholeLogits);
    expect(chunked).toBeLessThan(wholeLogits / 2);
    expect(evalChunked).toBeLessThan(wholeLogits / 2);
    adapter.release();
  });
});
