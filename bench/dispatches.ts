// `npm run bench -- dispatches [--layers N] [--seq S] [--batch B] [--recompute] [--run]`: GPU commands per training iteration
// of each method on the SmolLM2-135M shape (30 layers, Q4_0 base, rank 8, q,k,v,o, the default episode sizes:
// K = 4 tasks, 2 inner steps, |S| = |Q| = 4, batch 16 or B), broken down by kernel, and the iteration's peak of
// pooled GPU memory (the dry run allocates what a real run does: `--seq 256 --batch 4` is the memory goal's shape).
// The count does not depend on the sequence length once every pass has over 128 tokens (split-K then takes a
// second, reducing dispatch on every adapter), so the default S = 64 counts what seq 256 issues while
// allocating a quarter of the activations (at 256 the dry run still allocates ~5 GB of host memory).
// By default the iteration is recorded in the context's dry-run mode (checked and counted, not executed), so
// the full shape is counted in seconds on a CPU adapter; `--run` executes it instead (tests/unit/
// gpuContext.test.ts checks that both count the same). Results: bench/results/dispatches-<adapter>.json.

import type { GpuContext } from '../src/gpu/context';
import { createAdapterFor, createTrainer } from '../src/train/run';
import { Rng } from '../src/util/rng';
import { TRAIN_METHODS, type TrainMethod, type TrainSettings, resolveSettings } from '../src/train/settings';
import type { TrainModel } from '../src/train/step';
import { saveResults, table } from './harness';
import { SMOL_LAYERS, loadSmol, randomTokenTasks } from './smolShape';

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

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`--${name} needs a positive integer, got ${process.argv[at + 1]}`);
  return value;
}

export async function benchDispatches(ctx: GpuContext): Promise<void> {
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
  const rows = counts.map(({ byKernel: _, peakBytes, ...r }) => ({
    ...r,
    peak_mib: +(peakBytes / 2 ** 20).toFixed(1),
  }));
  const shape = `SmolLM2-135M-shaped, ${layers} layers, Q4_0, rank 8, seq ${S}, batch ${batch}${recompute ? ', recompute' : ''}, ${run ? 'executed' : 'dry run'}`;
  console.log(`\n${shape}\n${table(rows)}\n\nresults: ${saveResults(ctx, 'dispatches', { shape, counts })}`);
}
