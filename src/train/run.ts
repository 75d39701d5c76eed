// The training driver: settings + loaded model + tokenized tasks → the adapter, iterated by the method's
// trainer with the outer learning-rate schedule, metrics per iteration, held-out evaluation and checkpoints
// every N iterations, resume from the last checkpoint, and a clean stop on a non-finite loss or gradient.
//
// Randomness comes from one root stream per seed with labelled children (the sampler's, dropout's), whose
// states go into the checkpoint with AdamW's moments and step; the adapter's init is a pure function of the
// seed. So the same seed gives the same curves, and a resumed run continues bit for bit (GPU reductions are
// fixed-order, without atomics).

import { createLora } from '../adapters/lora';
import { createMtlLora } from '../adapters/mtlLora';
import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import type { LlamaConfig } from '../model/config';
import { ThroughputMeter } from './batch';
import { type Checkpoint, CheckpointError, readNamedTensors, writeNamedTensors } from './checkpoint';
import { type CheckpointStore, loadCheckpoint, saveCheckpoint } from './checkpointStore';
import { evalLossOf } from './evaluate';
import { type MetricsRecord, meanRow } from './metrics';
import { Rng } from '../util/rng';
import { learningRate } from './schedule';
import { EVAL_SETTINGS, type TrainSettings, splitPlan } from './settings';
import { type TrainModel, warmTrainStep } from './step';
import {
  type Task,
  type TaskSplit,
  type TokenizedExample,
  checkTaskNames,
  splitTask,
  tokenizeSplit,
} from '../data/tasks';
import type { IterationOutcome, Trainer, TrainerEnv } from './trainers/common';
import { createLoraTrainer } from './trainers/lora';
import { createMetaTrainer } from './trainers/metaLora';
import { createMtlTrainer } from './trainers/mtlLora';

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

/** Splits each task (pool, held-out) with the run's seed and tokenizes both halves. */
export function prepareTasks(tok: Tokenizer, tasks: readonly Task[], s: TrainSettings): TaskSplit<TokenizedExample>[] {
  checkTaskNames(tasks);
  return tasks.map((t) => tokenizeSplit(tok, splitTask(t, splitPlan(s)), { maxLength: s.maxSeqLen, eos: s.appendEos }));
}

/** The method's adapter (MTL-LoRA for mtl-lora, plain LoRA otherwise), initialised from the seed. */
export function createAdapterFor(
  ctx: GpuContext,
  cfg: LlamaConfig,
  s: TrainSettings,
  tasks: number,
  dropout = s.dropout,
): Adapter {
  const lora = { rank: s.rank, alpha: s.loraAlpha, dropout, targets: s.targets };
  if (s.method !== 'mtl-lora') return createLora(ctx, cfg, lora, s.seed);
  return createMtlLora(ctx, cfg, { ...lora, nUp: s.mtlUpProjections, tau: s.mtlTau, tasks, wInit: s.mtlWInit }, s.seed);
}

export function createTrainer(env: TrainerEnv, samplerRng: Rng): Trainer {
  switch (env.settings.method) {
    case 'meta-lora':
      return createMetaTrainer(env, samplerRng, true);
    case 'meta-lora-no-sta':
      return createMetaTrainer(env, samplerRng, false);
    case 'lora':
      return createLoraTrainer(env, samplerRng);
    case 'mtl-lora':
      return createMtlTrainer(env, samplerRng);
  }
}

export interface RunOptions {
  ctx: GpuContext;
  model: TrainModel;
  tasks: readonly TaskSplit<TokenizedExample>[];
  settings: TrainSettings;
  /** Where checkpoints go (every settings.checkpointEvery iterations, and at the end or stop). */
  store?: CheckpointStore;
  /** Continue from the store's checkpoint when there is one. */
  resume?: boolean;
  /** Stop (with a checkpoint) once this many iterations are complete, before settings.iterations. */
  stopAfter?: number;
  recompute?: boolean;
  /**
   * Asked before each iteration with the number completed so far; resolving false stops the run there, with a
   * checkpoint (the app's stop button). A pending promise pauses the run: nothing runs until it settles.
   */
  control?: (completed: number) => Promise<boolean>;
  /**
   * Every metrics row of the run in order: on resume first the checkpoint's rows (restored = true), then each
   * iteration's rows (tasks, then the mean row) and evaluation rows as they are produced.
   */
  onRecords?: (rows: MetricsRecord[], restored: boolean) => void;
}

export interface RunResult {
  /** The trained adapter (the caller releases it). */
  adapter: Adapter;
  /** Every metrics row of the run, those before a resume included. */
  metrics: MetricsRecord[];
  /** Iterations completed. */
  iteration: number;
  /** The checkpoint iteration the run continued from, or null for a fresh run. */
  resumedFrom: number | null;
}

/** Settings that may differ on resume: they change the run's length and cadence, not its steps so far. */
const RESUMABLE_CHANGES: readonly (keyof TrainSettings)[] = [
  'iterations',
  'evalEvery',
  'checkpointEvery',
  ...EVAL_SETTINGS,
];

function checkResumable(ck: Checkpoint, s: TrainSettings, tasks: readonly TaskSplit<TokenizedExample>[]): void {
  const differs = (Object.keys(s) as (keyof TrainSettings)[]).filter(
    (k) => !RESUMABLE_CHANGES.includes(k) && JSON.stringify(s[k]) !== JSON.stringify(ck.settings[k]),
  );
  if (differs.length > 0) {
    throw new CheckpointError(
      `cannot resume: the checkpoint was trained with different ${differs.join(', ')} ` +
        `(${differs.map((k) => `${k} = ${JSON.stringify(ck.settings[k])}`).join(', ')})`,
    );
  }
  const want = tasks.map((t) => ({ name: t.name, poolSize: t.train.length }));
  if (JSON.stringify(want) !== JSON.stringify(ck.tasks)) {
    throw new CheckpointError(
      `cannot resume: the checkpoint's tasks ${JSON.stringify(ck.tasks)} differ from these ` + JSON.stringify(want),
    );
  }
  if (ck.iteration > s.iterations) {
    throw new CheckpointError(
      `cannot resume: the checkpoint is at iteration ${ck.iteration}, past iterations = ${s.iterations}`,
    );
  }
}

/** The schedule of a run's outer learning rate. */
function scheduleOf(s: TrainSettings) {
  return { kind: s.schedule, warmupSteps: s.warmupSteps, totalSteps: s.iterations, minLrRatio: s.minLrRatio };
}

/** A run in progress: its adapter, trainer and random streams, the rows so far, the last checkpoint written. */
class TrainingRun {
  readonly metrics: MetricsRecord[] = [];
  lastSaved: number | null = null;
  readonly adapter: Adapter;
  /** Held-out losses are taken without dropout: a twin adapter without it computes with the trained parameters. */
  private readonly evalAdapter: Adapter;
  readonly trainer: Trainer;
  private readonly dropout: Rng;

  constructor(private readonly o: RunOptions) {
    const { ctx, model, tasks, settings: s } = o;
    const root = Rng.fromSeed(s.seed);
    const samplerRng = root.derive('sampler');
    this.dropout = root.derive('dropout');
    this.adapter = createAdapterFor(ctx, model.config, s, tasks.length);
    this.evalAdapter = s.dropout > 0 ? createAdapterFor(ctx, model.config, s, tasks.length, 0) : this.adapter;
    this.trainer = createTrainer(
      { ctx, model, adapter: this.adapter, tasks, settings: s, dropout: this.dropout, recompute: o.recompute },
      samplerRng,
    );
  }

  emit(rows: MetricsRecord[], restored = false): void {
    this.metrics.push(...rows);
    this.o.onRecords?.(rows, restored);
  }

  /** Continues from checkpoint `ck`: parameters, AdamW moments, sampler, dropout stream and rows; returns its iteration. */
  restore(ck: Checkpoint): number {
    const { ctx, settings: s, tasks } = this.o;
    const { adapter, trainer } = this;
    checkResumable(ck, s, tasks);
    writeNamedTensors(ctx, adapter.names, adapter.params, ck.params);
    const moments = (values: Float32Array[]) => ck.params.map((p, i) => ({ ...p, data: values[i] }));
    writeNamedTensors(ctx, adapter.names, trainer.optimizer.m, moments(ck.optimizer.m));
    writeNamedTensors(ctx, adapter.names, trainer.optimizer.v, moments(ck.optimizer.v));
    trainer.restore(ck.sampler, ck.metrics);
    this.dropout.setState(ck.rng.dropout);
    this.emit(ck.metrics, true);
    this.lastSaved = ck.iteration;
    return ck.iteration;
  }

  /** Writes a checkpoint at `iteration` (nothing without a store). */
  async save(iteration: number): Promise<void> {
    const { ctx, store, settings: s, tasks } = this.o;
    if (!store) return;
    const { adapter, trainer } = this;
    const read = (list: typeof adapter.params) => Promise.all(list.map((t) => ctx.read(t)));
    await saveCheckpoint(store, {
      iteration,
      settings: s,
      tasks: tasks.map((t) => ({ name: t.name, poolSize: t.train.length })),
      params: await readNamedTensors(ctx, adapter.names, adapter.params),
      optimizer: { step: iteration, m: await read(trainer.optimizer.m), v: await read(trainer.optimizer.v) },
      rng: { dropout: this.dropout.getState() },
      sampler: trainer.samplerState(),
      metrics: [...this.metrics],
    });
    this.lastSaved = iteration;
  }

  /** Held-out loss rows (one per task with a held-out set, and their mean), none when no task has one. */
  async heldOut(iteration: number, lr: number): Promise<MetricsRecord[]> {
    const { ctx, model, tasks } = this.o;
    const rows: MetricsRecord[] = [];
    for (const [task, t] of tasks.entries()) {
      const loss = await evalLossOf(
        ctx,
        model,
        this.evalAdapter,
        { task, dropoutSeed: 0, params: this.adapter.params },
        t.eval,
      );
      if (loss !== null)
        rows.push({
          iteration,
          task: t.name,
          support_loss: null,
          query_loss: null,
          lr,
          tokens_per_s: 0,
          eval_loss: loss,
        });
    }
    return rows.length > 0 ? [...rows, meanRow(rows)] : [];
  }

  /** Frees what only training needed (the adapter itself goes to the caller). */
  releaseWorkingState(): void {
    this.trainer.release();
    if (this.evalAdapter !== this.adapter) this.evalAdapter.release();
  }
}

/** The metrics rows of one iteration: one per sampled task, then their mean with the objective and gradient norm. */
function iterationRows(
  out: IterationOutcome,
  iteration: number,
  lr: number,
  tokensPerS: number,
  names: readonly string[],
): MetricsRecord[] {
  const rows: MetricsRecord[] = out.tasks.map((t) => ({
    iteration,
    task: names[t.task],
    support_loss: t.support,
    query_loss: t.query,
    lr,
    tokens_per_s: tokensPerS,
  }));
  return [...rows, { ...meanRow(rows), query_loss: out.objective, grad_norm: out.gradNorm }];
}

function nonFiniteError(out: IterationOutcome, it: number, lastSaved: number | null): NonFiniteError {
  const kept =
    lastSaved === null
      ? 'no checkpoint was saved before it'
      : `the last good checkpoint (iteration ${lastSaved}) is kept`;
  return new NonFiniteError(
    `iteration ${it + 1}: a loss or gradient became NaN or infinite (query losses ` +
      `${out.tasks.map((t) => t.query).join(', ')}; gradient norm ${out.gradNorm}), so training stopped; ${kept}. ` +
      'Lower the learning rate (lr, or innerLr for meta-lora) or set gradClip.',
  );
}

/**
 * Iterations `start`… until the settings' end, `stopAfter`, or the control hook says stop; with held-out rows
 * every evalEvery and checkpoints every checkpointEvery. Returns the number of iterations completed.
 */
/** Sequences in one training pass: a batch, or an episode's K supports or queries as one batch of row groups. */
function stepSequences(s: TrainSettings): number {
  if (s.method === 'lora' || s.method === 'mtl-lora') return s.batchSize;
  return s.tasksPerIteration * Math.max(s.supportSize, s.querySize);
}

async function trainIterations(run: TrainingRun, o: RunOptions, start: number): Promise<number> {
  const s = o.settings;
  const schedule = scheduleOf(s);
  const end = Math.min(s.iterations, o.stopAfter ?? s.iterations);
  const meter = new ThroughputMeter();
  const names = o.tasks.map((t) => t.name);
  // The step's pipelines compile asynchronously before the first iteration, instead of one by one inside it.
  if (start < end)
    await warmTrainStep(o.ctx, o.model, run.adapter, stepSequences(s), s.maxSeqLen, { recompute: o.recompute });
  for (let it = start; it < end; it++) {
    if (o.control && !(await o.control(it))) return it;
    const lr = learningRate(s.lr, schedule, it);
    meter.start();
    const out = await run.trainer.iterate(it, lr);
    const tokensPerS = meter.stop(out.tokens);
    if (out.nonFinite) throw nonFiniteError(out, it, run.lastSaved);
    const iteration = it + 1;
    run.emit(iterationRows(out, iteration, lr, tokensPerS, names));
    if (s.evalEvery > 0 && iteration % s.evalEvery === 0 && iteration < s.iterations)
      run.emit(await run.heldOut(iteration, lr));
    if (s.checkpointEvery > 0 && iteration % s.checkpointEvery === 0 && iteration < end) await run.save(iteration);
  }
  return end;
}

export async function runTraining(o: RunOptions): Promise<RunResult> {
  const s = o.settings;
  checkTaskNames(o.tasks.map((t) => ({ name: t.name, examples: [] })));
  const run = new TrainingRun(o);
  try {
    const ck = o.resume && o.store ? await loadCheckpoint(o.store) : null;
    const start = ck ? run.restore(ck) : 0;
    const end = await trainIterations(run, o, start);
    // The final held-out rows, when the run reached its last iteration here.
    if (end === s.iterations && start < end)
      run.emit(await run.heldOut(end, learningRate(s.lr, scheduleOf(s), end - 1)));
    if (start < end || run.lastSaved === null) await run.save(end);
    return { adapter: run.adapter, metrics: run.metrics, iteration: end, resumedFrom: ck ? ck.iteration : null };
  } catch (e) {
    run.adapter.release();
    throw e;
  } finally {
    run.releaseWorkingState();
  }
}
