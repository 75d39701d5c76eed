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
import { Rng } from './rng';
import { learningRate } from './schedule';
import { EVAL_SETTINGS, type TrainSettings } from './settings';
import { type TrainModel, warmTrainStep } from './step';
import { type Task, type TaskSplit, type TokenizedExample, checkTaskNames, splitTask, tokenizeSplit } from './tasks';
import type { Trainer, TrainerEnv } from './trainers/common';
import { createLoraTrainer } from './trainers/lora';
import { createMetaTrainer } from './trainers/metaLora';
import { createMtlTrainer } from './trainers/mtlLora';

export class NonFiniteError extends Error {
  override name = 'NonFiniteError';
}

/** Splits each task (pool, held-out) with the run's seed and tokenizes both halves. */
export function prepareTasks(tok: Tokenizer, tasks: readonly Task[], s: TrainSettings): TaskSplit<TokenizedExample>[] {
  checkTaskNames(tasks);
  return tasks.map((t) => tokenizeSplit(tok, splitTask(t, { poolSize: s.examplesPerTask, evalMax: s.evalExamplesPerTask, seed: s.seed }),
    { maxLength: s.maxSeqLen, eos: s.appendEos }));
}

/** The method's adapter (MTL-LoRA for mtl-lora, plain LoRA otherwise), initialised from the seed. */
export function createAdapterFor(ctx: GpuContext, cfg: LlamaConfig, s: TrainSettings, tasks: number, dropout = s.dropout): Adapter {
  const lora = { rank: s.rank, alpha: s.loraAlpha, dropout, targets: s.targets };
  if (s.method !== 'mtl-lora') return createLora(ctx, cfg, lora, s.seed);
  return createMtlLora(ctx, cfg, { ...lora, nUp: s.mtlUpProjections, tau: s.mtlTau, tasks, wInit: s.mtlWInit }, s.seed);
}

export function createTrainer(env: TrainerEnv, samplerRng: Rng): Trainer {
  switch (env.settings.method) {
    case 'meta-lora': return createMetaTrainer(env, samplerRng, true);
    case 'meta-lora-no-sta': return createMetaTrainer(env, samplerRng, false);
    case 'lora': return createLoraTrainer(env, samplerRng);
    case 'mtl-lora': return createMtlTrainer(env, samplerRng);
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
const RESUMABLE_CHANGES: readonly (keyof TrainSettings)[] = ['iterations', 'evalEvery', 'checkpointEvery', ...EVAL_SETTINGS];

function checkResumable(ck: Checkpoint, s: TrainSettings, tasks: readonly TaskSplit<TokenizedExample>[]): void {
  const differs = (Object.keys(s) as (keyof TrainSettings)[]).filter((k) =>
    !RESUMABLE_CHANGES.includes(k) && JSON.stringify(s[k]) !== JSON.stringify(ck.settings[k]));
  if (differs.length > 0) {
    throw new CheckpointError(`cannot resume: the checkpoint was trained with different ${differs.join(', ')} ` +
      `(${differs.map((k) => `${k} = ${JSON.stringify(ck.settings[k])}`).join(', ')})`);
  }
  const want = tasks.map((t) => ({ name: t.name, poolSize: t.train.length }));
  if (JSON.stringify(want) !== JSON.stringify(ck.tasks)) {
    throw new CheckpointError(`cannot resume: the checkpoint's tasks ${JSON.stringify(ck.tasks)} differ from these ` +
      JSON.stringify(want));
  }
  if (ck.iteration > s.iterations) {
    throw new CheckpointError(`cannot resume: the checkpoint is at iteration ${ck.iteration}, past iterations = ${s.iterations}`);
  }
}

export async function runTraining(o: RunOptions): Promise<RunResult> {
  const { ctx, model, tasks, settings: s } = o;
  checkTaskNames(tasks.map((t) => ({ name: t.name, examples: [] })));
  const root = Rng.fromSeed(s.seed);
  const samplerRng = root.derive('sampler');
  const dropout = root.derive('dropout');
  const adapter = createAdapterFor(ctx, model.config, s, tasks.length);
  // Held-out losses are taken without dropout: a twin adapter without it computes with the trained parameters.
  const evalAdapter = s.dropout > 0 ? createAdapterFor(ctx, model.config, s, tasks.length, 0) : adapter;
  const env: TrainerEnv = { ctx, model, adapter, tasks, settings: s, dropout, recompute: o.recompute };
  const trainer = createTrainer(env, samplerRng);
  const metrics: MetricsRecord[] = [];
  const emit = (rows: MetricsRecord[], restored = false) => {
    metrics.push(...rows);
    o.onRecords?.(rows, restored);
  };
  let lastSaved: number | null = null;
  const save = async (iteration: number) => {
    if (!o.store) return;
    const read = (list: typeof adapter.params) => Promise.all(list.map((t) => ctx.read(t)));
    await saveCheckpoint(o.store, {
      iteration, settings: s, tasks: tasks.map((t) => ({ name: t.name, poolSize: t.train.length })),
      params: await readNamedTensors(ctx, adapter.names, adapter.params),
      optimizer: { step: iteration, m: await read(trainer.optimizer.m), v: await read(trainer.optimizer.v) },
      rng: { dropout: dropout.getState() }, sampler: trainer.samplerState(), metrics: [...metrics],
    });
    lastSaved = iteration;
  };

  try {
    let start = 0;
    const ck = o.resume && o.store ? await loadCheckpoint(o.store) : null;
    if (ck) {
      checkResumable(ck, s, tasks);
      writeNamedTensors(ctx, adapter.names, adapter.params, ck.params);
      const moments = (values: Float32Array[]) => ck.params.map((p, i) => ({ ...p, data: values[i] }));
      writeNamedTensors(ctx, adapter.names, trainer.optimizer.m, moments(ck.optimizer.m));
      writeNamedTensors(ctx, adapter.names, trainer.optimizer.v, moments(ck.optimizer.v));
      trainer.restore(ck.sampler, ck.metrics);
      dropout.setState(ck.rng.dropout);
      emit(ck.metrics, true);
      start = lastSaved = ck.iteration;
    }
    const schedule = { kind: s.schedule, warmupSteps: s.warmupSteps, totalSteps: s.iterations, minLrRatio: s.minLrRatio };
    let end = Math.min(s.iterations, o.stopAfter ?? s.iterations);
    const meter = new ThroughputMeter();
    const names = tasks.map((t) => t.name);
    // The step's pipelines compile asynchronously before the first iteration, instead of one by one inside it.
    const stepRows = s.method === 'lora' || s.method === 'mtl-lora' ? s.batchSize : Math.max(s.supportSize, s.querySize);
    if (start < end) await warmTrainStep(ctx, model, adapter, stepRows, s.maxSeqLen, { recompute: o.recompute });
    for (let it = start; it < end; it++) {
      if (o.control && !(await o.control(it))) {
        end = it;
        break;
      }
      const lr = learningRate(s.lr, schedule, it);
      meter.start();
      const out = await trainer.iterate(it, lr);
      const tokensPerS = meter.stop(out.tokens);
      if (out.nonFinite) {
        const kept = lastSaved === null ? 'no checkpoint was saved before it' : `the last good checkpoint (iteration ${lastSaved}) is kept`;
        throw new NonFiniteError(`iteration ${it + 1}: a loss or gradient became NaN or infinite (query losses ` +
          `${out.tasks.map((t) => t.query).join(', ')}; gradient norm ${out.gradNorm}), so training stopped; ${kept}. ` +
          'Lower the learning rate (lr, or innerLr for meta-lora) or set gradClip.');
      }
      const iteration = it + 1;
      const rows: MetricsRecord[] = out.tasks.map((t) => ({
        iteration, task: names[t.task], support_loss: t.support, query_loss: t.query, lr, tokens_per_s: tokensPerS,
      }));
      emit([...rows, { ...meanRow(rows), query_loss: out.objective, grad_norm: out.gradNorm }]);
      if (s.evalEvery > 0 && iteration % s.evalEvery === 0 && iteration < s.iterations) emit(await evaluate(iteration, lr));
      if (s.checkpointEvery > 0 && iteration % s.checkpointEvery === 0 && iteration < end) await save(iteration);
    }
    if (end === s.iterations && start < end) emit(await evaluate(end, learningRate(s.lr, schedule, end - 1)));
    if (start < end || lastSaved === null) await save(end);
    return { adapter, metrics, iteration: end, resumedFrom: ck ? ck.iteration : null };
  } catch (e) {
    adapter.release();
    throw e;
  } finally {
    trainer.release();
    if (evalAdapter !== adapter) evalAdapter.release();
  }

  /** Held-out loss rows (one per task with a held-out set, and their mean), none when no task has one. */
  async function evaluate(iteration: number, lr: number): Promise<MetricsRecord[]> {
    const rows: MetricsRecord[] = [];
    for (const [task, t] of tasks.entries()) {
      const loss = await evalLossOf(ctx, model, evalAdapter, { task, dropoutSeed: 0, params: adapter.params }, t.eval);
      if (loss !== null) rows.push({ iteration, task: t.name, support_loss: null, query_loss: null, lr, tokens_per_s: 0, eval_loss: loss });
    }
    return rows.length > 0 ? [...rows, meanRow(rows)] : [];
  }
}
