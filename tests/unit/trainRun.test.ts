// The training driver (src/train/run.ts): determinism (same seed → the same curves and parameters, bit for
// bit), resume (N iterations straight = N/2, checkpoint, load, N/2 — metrics, parameters and AdamW moments
// bit for bit, for every method), the non-finite stop that keeps the last good checkpoint, and on the real
// stories260K with the demo tasks: MeTA-LoRA's query loss falls and two runs with one seed agree.
// Bit-for-bit is the right bar: every GPU reduction has a fixed order (no atomics), and everything random
// comes from checkpointed streams, so any difference is a bug (state not saved or restored, draws shifted).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { concatParts } from '../../src/io/ggufWriter';
import { loadModel } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import { releaseWeights } from '../../src/model/weights';
import type { CheckpointStore, StoredCheckpoint } from '../../src/train/checkpointStore';
import { loadCheckpoint } from '../../src/train/checkpointStore';
import type { MetricsRecord } from '../../src/train/metrics';
import { NonFiniteError, prepareTasks, runTraining, type RunOptions } from '../../src/train/run';
import { type TrainMethod, type TrainSettings, TRAIN_METHODS, resolveSettings } from '../../src/train/settings';
import { parseTaskJsonl } from '../../src/data/tasks';
import { gpu } from '../helpers/gpu';
import { rng } from '../helpers/random';
import { sharedPath } from '../helpers/shared';
import { randomTask, tinyTrainModel } from '../helpers/tinyTrain';

/** A checkpoint store in memory (the directory store has its own tests). */
function memoryStore(): CheckpointStore & { saves: number } {
  let kept: StoredCheckpoint | null = null;
  return {
    saves: 0,
    async save(ck) {
      kept = { json: ck.json, tensors: concatParts(ck.tensors) };
      this.saves++;
    },
    load: async () => kept,
  };
}

/** Metrics without the wall-clock field. */
const curve = (rows: readonly MetricsRecord[]) => rows.map((r) => ({ ...r, tokens_per_s: 0 }));

function tinySetup(ctx: GpuContext, method: TrainMethod, overrides: Partial<TrainSettings> = {}) {
  const random = rng(11);
  const m = tinyTrainModel(ctx, random);
  const tasks = ['a', 'b', 'c'].map((name) => randomTask(name, 8, m.cfg.vocabSize, random));
  const settings = resolveSettings(method, {
    seed: 5,
    iterations: 6,
    rank: 2,
    loraAlpha: 4,
    dropout: 0.1,
    targets: ['q', 'v', 'o'],
    examplesPerTask: 8,
    tasksPerIteration: 2,
    supportSize: 2,
    querySize: 2,
    innerSteps: 2,
    batchSize: 3,
    lr: 0.01,
    warmupSteps: 2,
    evalEvery: 2,
    checkpointEvery: 0,
    ...overrides,
  });
  return { m, model: { weights: m.weights, config: m.cfg }, tasks, settings };
}

async function finish(ctx: GpuContext, r: Awaited<ReturnType<typeof runTraining>>) {
  const params = await Promise.all(r.adapter.params.map((p) => ctx.read(p)));
  r.adapter.release();
  return { metrics: r.metrics, params };
}

describe('training driver on a tiny random model', () => {
  for (const method of TRAIN_METHODS) {
    it(`${method}: same seed → same curves; N straight = N/2 + checkpoint + resume, bit for bit`, async () => {
      const ctx = await gpu();
      const { model, tasks, settings } = tinySetup(ctx, method);
      const base: RunOptions = { ctx, model, tasks, settings };
      const straightStore = memoryStore();
      const straight = await runTraining({ ...base, store: straightStore });
      const again = await finish(ctx, await runTraining(base));
      const store = memoryStore();
      const half = await runTraining({ ...base, store, stopAfter: 3 });
      expect(half.iteration).toBe(3);
      half.adapter.release();
      const resumed = await runTraining({ ...base, store, resume: true });
      expect(resumed.resumedFrom).toBe(3);
      const [a, b] = [await finish(ctx, straight), await finish(ctx, resumed)];

      // 6 iterations of task rows + a mean row each, and held-out rows at 2, 4 and the end.
      expect(a.metrics.filter((r) => r.task === 'mean' && r.eval_loss === undefined).length).toBe(6);
      expect(a.metrics.filter((r) => r.task === 'mean' && r.eval_loss !== undefined).map((r) => r.iteration)).toEqual([
        2, 4, 6,
      ]);
      expect(curve(again.metrics)).toEqual(curve(a.metrics));
      again.params.forEach((p, i) => expect(p).toEqual(a.params[i]));
      expect(curve(b.metrics)).toEqual(curve(a.metrics));
      b.params.forEach((p, i) => expect(p).toEqual(a.params[i]));
      // The final checkpoints agree too: AdamW's moments and step, the RNG and sampler states.
      const [x, y] = [(await loadCheckpoint(straightStore))!, (await loadCheckpoint(store))!];
      expect([x.iteration, y.iteration, y.optimizer.step]).toEqual([6, 6, 6]);
      expect(y.optimizer.m).toEqual(x.optimizer.m);
      expect(y.optimizer.v).toEqual(x.optimizer.v);
      expect(y.rng).toEqual(x.rng);
      expect(y.sampler).toEqual(x.sampler);
      // Training moved the adapter (B starts at zero).
      expect(a.params.some((p) => p.some((x) => x !== 0 && Number.isFinite(x)))).toBe(true);
      const query = a.metrics
        .filter((r) => r.task === 'mean' && r.query_loss !== null)
        .map((r) => r.query_loss!.toFixed(3));
      console.log(`${method}: query loss ${query.join(' → ')}`);
    });
  }

  it('control: a held promise pauses between iterations, false stops with a checkpoint that resumes bit for bit', async () => {
    const ctx = await gpu();
    const { model, tasks, settings } = tinySetup(ctx, 'meta-lora');
    const straight = await finish(ctx, await runTraining({ ctx, model, tasks, settings }));
    const store = memoryStore();
    const asked: number[] = [];
    const held: { release?: () => void } = {};
    let iterations = 0;
    const run = runTraining({
      ctx,
      model,
      tasks,
      settings,
      store,
      onRecords: (rows) => {
        iterations = Math.max(iterations, ...rows.map((r) => r.iteration));
      },
      control: (done) => {
        asked.push(done);
        if (done === 2)
          return new Promise<boolean>((r) => {
            held.release = () => r(true);
          }); // pause after 2
        return Promise.resolve(done < 4); // stop after 4
      },
    });
    // Wait until the run is holding at the pause (under load that can take a while), then a little longer.
    while (!held.release) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 300));
    expect(iterations).toBe(2); // paused: nothing ran while the promise was pending
    held.release!();
    const stopped = await run;
    expect(stopped.iteration).toBe(4);
    expect(asked).toEqual([0, 1, 2, 3, 4]);
    stopped.adapter.release();
    expect((await loadCheckpoint(store))!.iteration).toBe(4);
    const resumed = await finish(ctx, await runTraining({ ctx, model, tasks, settings, store, resume: true }));
    expect(curve(resumed.metrics)).toEqual(curve(straight.metrics));
    resumed.params.forEach((p, i) => expect(p).toEqual(straight.params[i]));
  });

  it('a NaN loss stops the run with a clear message and keeps the last good checkpoint', async () => {
    const ctx = await gpu();
    const { m, model, tasks, settings } = tinySetup(ctx, 'meta-lora', { checkpointEvery: 1 });
    const store = memoryStore();
    (await runTraining({ ctx, model, tasks, settings, store, stopAfter: 2 })).adapter.release();
    // The model goes bad after the checkpoint at iteration 2: the next iteration's losses are NaN.
    const good = await ctx.read(m.weights.outNorm);
    ctx.write(
      m.weights.outNorm.buffer,
      good.map(() => NaN),
    );
    const saves = store.saves;
    await expect(runTraining({ ctx, model, tasks, settings, store, resume: true })).rejects.toThrow(NonFiniteError);
    await expect(runTraining({ ctx, model, tasks, settings, store, resume: true })).rejects.toThrow(
      /iteration 3: a loss or gradient became NaN or infinite .* the last good checkpoint \(iteration 2\) is kept/,
    );
    expect(store.saves).toBe(saves);
    expect((await loadCheckpoint(store))!.iteration).toBe(2);
    ctx.write(m.weights.outNorm.buffer, good);
  });

  it('refuses to resume with different settings or data', async () => {
    const ctx = await gpu();
    const { model, tasks, settings } = tinySetup(ctx, 'lora', { iterations: 2 });
    const store = memoryStore();
    (await runTraining({ ctx, model, tasks, settings, store, stopAfter: 1 })).adapter.release();
    await expect(
      runTraining({ ctx, model, tasks, settings: { ...settings, lr: 0.02 }, store, resume: true }),
    ).rejects.toThrow(/different lr \(lr = 0\.01\)/);
    await expect(runTraining({ ctx, model, tasks: tasks.slice(0, 2), settings, store, resume: true })).rejects.toThrow(
      /tasks/,
    );
  });
});

describe('MeTA-LoRA on stories260K with the demo tasks', () => {
  it('the query loss falls over 30 iterations, and a second run with the seed repeats the curve', async () => {
    const ctx = await gpu();
    const files = await openModelPath(sharedPath('models/stories260K/stories260K.bin'));
    const loaded = await loadModel(ctx, files);
    const tok = loaded.tokenizer!;
    const demo = (name: string) => parseTaskJsonl(name, readFileSync(`public/demo/stories/${name}.jsonl`, 'utf8'));
    // Small episodes keep this fast (~0.3 s per iteration on SwiftShader); the rate is the demo's β × 10.
    const settings = resolveSettings('meta-lora', {
      seed: 3,
      iterations: 30,
      examplesPerTask: 16,
      evalExamplesPerTask: 8,
      maxSeqLen: 64,
      tasksPerIteration: 2,
      supportSize: 2,
      querySize: 2,
      innerSteps: 1,
      lr: 2e-3,
      schedule: 'constant',
      warmupSteps: 3,
      evalEvery: 0,
      checkpointEvery: 0,
    });
    const tasks = prepareTasks(tok, ['colors', 'animals', 'feelings'].map(demo), settings);
    const model = { weights: loaded.weights, config: loaded.config };
    const first = await runTraining({ ctx, model, tasks, settings });
    first.adapter.release();
    const query = first.metrics.filter((r) => r.task === 'mean' && r.query_loss !== null).map((r) => r.query_loss!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [early, late] = [mean(query.slice(0, 5)), mean(query.slice(-5))];
    console.log(
      `stories260K meta-lora query loss: first 5 iterations ${early.toFixed(3)}, last 5 ${late.toFixed(3)}; ` +
        `${first.metrics
          .filter((r) => r.task === 'mean' && r.eval_loss === undefined)
          .at(-1)!
          .tokens_per_s.toFixed(0)} tokens/s`,
    );
    // A real fall, far beyond the iteration-to-iteration noise of episodes (± ~1 in the first iterations).
    expect(late).toBeLessThan(0.75 * early);

    const second = await runTraining({ ctx, model, tasks, settings: { ...settings, iterations: 5 } });
    second.adapter.release();
    const again = second.metrics.filter((r) => r.eval_loss === undefined);
    // The schedule is constant after warm-up, so 5 iterations of a 5-iteration run match the 30-iteration one.
    expect(curve(again)).toEqual(curve(first.metrics.filter((r) => r.iteration <= 5 && r.eval_loss === undefined)));
    releaseWeights(loaded.weights);
  });
});
