// `npm run bench -- dispatches [--layers N] [--seq S] [--batch B] [--recompute] [--run]`: GPU commands per training iteration
// of each method on the SmolLM2-135M shape (30 layers, Q4_0 base, rank 8, q,k,v,o, the default episode sizes:
// K = 4 tasks, 2 inner steps, |S| = |Q| = 4, batch 16 or B), broken down by kernel, and the iteration's peak of
// pooled GPU memory (the dry run allocates what a real run does: `--seq 256 --batch 4` is the memory goal's shape).
// The blocks' count does not depend on the sequence length once every pass has over 128 tokens (split-K then
// takes a second chunk on every adapter); the head's does: 3 dispatches per chunk of ≤ 64 MiB of logits
// (src/train/headLoss.ts). S = 64 is the default because a 30-layer dry run at seq 256 needs > 20 GB of host
// memory; so for S < 256 the bench also counts a 1-layer model at S and at 256 and adds the difference, which
// is the head's alone (it does not depend on layers), to print the count at seq 256.
// By default the iteration is recorded in the context's dry-run mode (checked and counted, not executed), so
// the full shape is counted in seconds on a CPU adapter; `--run` executes it instead (tests/unit/
// gpuContext.test.ts checks that both count the same). Results: bench/results/dispatches-<adapter>.json.

import type { GpuContext } from '../src/gpu/context';
import { createAdapterFor, createTrainer } from '../src/train/run';
import { Rng } from '../src/util/rng';
import { TRAIN_METHODS, type TrainMethod, type TrainSettings, resolveSettings } from '../src/train/settings';
import type { TrainModel } from '../src/train/step';
import { releaseWeights } from '../src/model/weights';
import { SMOL_LAYERS, loadSmol, randomTokenTasks } from './smolShape';
import { type SaveResults, table } from './harness';

export interface IterationCount {
  method: TrainMethod;
  dispatches: number;
  passes: number;
  copies: number;
  submits: number;
  readbacks: number;
  bindGroups: number;
  /** Most bytes the buffer pool held during the counted iteration (weights, adapter and optimizer included). */
  peakBytes: number;
  byKernel: Record<string, number>;
}

/** The settings every count uses: the defaults at sequence length S (one iteration, nothing else). */
export function countSettings(method: TrainMethod, S: number, batchSize?: number): TrainSettings {
  return resolveSettings(method, {
    maxSeqLen: S,
    iterations: 2,
    evalEvery: 0,
    checkpointEvery: 0,
    warmupSteps: 0,
    ...(batchSize ? { batchSize } : {}),
  });
}

/**
 * Counts the GPU commands of one training iteration (the second: the first creates the pipelines) of
 * `method` on `model`, with random tasks of exactly S tokens per example. `dryRun` records without executing.
 */
export async function countIteration(
  ctx: GpuContext,
  model: TrainModel,
  method: TrainMethod,
  S: number,
  dryRun: boolean,
  batchSize?: number,
  recompute = false,
): Promise<IterationCount> {
  const settings = countSettings(method, S, batchSize);
  const perTask = Math.max(settings.supportSize + settings.querySize, settings.batchSize);
  const tasks = randomTokenTasks(model.config.vocabSize, S, settings.tasksPerIteration, perTask);
  ctx.pool.peakBytes = ctx.pool.inUseBytes;
  const adapter = createAdapterFor(ctx, model.config, settings, tasks.length);
  const root = Rng.fromSeed(settings.seed);
  const trainer = createTrainer(
    { ctx, model, adapter, tasks, settings, dropout: root.derive('dropout'), recompute },
    root.derive('sampler'),
  );
  ctx.setDryRun(dryRun);
  try {
    await trainer.iterate(0, settings.lr);
    ctx.resetStats();
    await trainer.iterate(1, settings.lr);
    const s = ctx.stats;
    return {
      method,
      dispatches: s.dispatches,
      passes: s.passes,
      copies: s.copies,
      submits: s.submits,
      readbacks: s.readbacks,
      bindGroups: s.bindGroups,
      peakBytes: ctx.pool.peakBytes,
      byKernel: Object.fromEntries([...s.byKernel].sort((a, b) => b[1] - a[1])),
    };
  } finally {
    ctx.setDryRun(false);
    trainer.release();
    adapter.release();
  }
}

/** The commands an iteration issues at any depth, extrapolated: every layer issues the same ones. */
export interface LayerwiseCount {
  method: TrainMethod;
  layers: number;
  dispatches: number;
  passes: number;
  copies: number;
  readbacks: number;
  byKernel: Record<string, number>;
}

/**
 * Each method's count at `layers` layers from dry runs of 2 and 3: count(L) = count(2) + (L − 2)·(count(3) −
 * count(2)), exact because each block records the same commands (checked against the 30-layer dry run of
 * `npm run bench -- dispatches`). Two small dry runs instead of a 30-layer one, whose ~1.2 GB of buffers a
 * browser's GPU process does not give a CPU adapter. Submits and bind groups are not per layer: not counted.
 */
export async function countByLayers(ctx: GpuContext, layers: number, S: number): Promise<LayerwiseCount[]> {
  const at: IterationCount[][] = [];
  for (const L of [2, 3]) {
    const model = await loadSmol(ctx, L);
    at.push([]);
    for (const method of TRAIN_METHODS) at[at.length - 1].push(await countIteration(ctx, model, method, S, true));
    releaseWeights(model.weights);
  }
  const line = (a: number, b: number) => a + (layers - 2) * (b - a);
  return at[0].map((two, i) => {
    const three = at[1][i];
    const kernels = new Set([...Object.keys(two.byKernel), ...Object.keys(three.byKernel)]);
    const byKernel = Object.fromEntries(
      [...kernels]
        .map((k): [string, number] => [k, line(two.byKernel[k] ?? 0, three.byKernel[k] ?? 0)])
        .sort((a, b) => b[1] - a[1]),
    );
    return {
      method: two.method,
      layers,
      dispatches: line(two.dispatches, three.dispatches),
      passes: line(two.passes, three.passes),
      copies: line(two.copies, three.copies),
      readbacks: line(two.readbacks, three.readbacks),
      byKernel,
    };
  });
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} needs a positive integer, got ${process.argv[at + 1]}`);
  return value;
}

export async function benchDispatches(ctx: GpuContext, saveResults: SaveResults): Promise<void> {
  const layers = option('layers', SMOL_LAYERS);
  const S = option('seq', 64);
  const batch = option('batch', 16);
  const run = process.argv.includes('--run');
  const recompute = process.argv.includes('--recompute');
  const model = await loadSmol(ctx, layers);
  const counts: IterationCount[] = [];
  for (const method of TRAIN_METHODS) {
    const c = await countIteration(ctx, model, method, S, !run, batch, recompute);
    counts.push(c);
    const top = Object.entries(c.byKernel)
      .slice(0, 8)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    console.log(`${method}: ${c.dispatches} dispatches (${top})`);
  }
  const atSeq256 = S < 256 ? await countAtSeq256(ctx, counts, S, batch, recompute) : undefined;
  const rows = counts.map(({ byKernel: _, peakBytes, ...r }, i) => ({
    ...r,
    ...(atSeq256 ? { at_seq_256: atSeq256[i] } : {}),
    peak_mib: +(peakBytes / 2 ** 20).toFixed(1),
  }));
  const shape = `SmolLM2-135M-shaped, ${layers} layers, Q4_0, rank 8, seq ${S}, batch ${batch}${recompute ? ', recompute' : ''}, ${run ? 'executed' : 'dry run'}`;
  const results = { shape, counts, ...(atSeq256 ? { atSeq256 } : {}) };
  console.log(`\n${shape}\n${table(rows)}\n\nresults: ${saveResults(ctx, 'dispatches', results)}`);
}

/** Each method's count at seq 256: the count at S plus what a 1-layer model's head adds from S to 256. */
async function countAtSeq256(
  ctx: GpuContext,
  counts: IterationCount[],
  S: number,
  batch: number,
  recompute: boolean,
): Promise<number[]> {
  const one = await loadSmol(ctx, 1);
  const out: number[] = [];
  for (const c of counts) {
    const [short, long] = [
      await countIteration(ctx, one, c.method, S, true, batch, recompute),
      await countIteration(ctx, one, c.method, 256, true, batch, recompute),
    ];
    out.push(c.dispatches + long.dispatches - short.dispatches);
  }
  releaseWeights(one.weights);
  return out;
}
