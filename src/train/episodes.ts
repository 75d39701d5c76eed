// What each iteration trains on, as indices into the tasks' training pools. Three samplers, one per
// training regime: MeTA-LoRA episodes (K tasks without replacement, disjoint support and query per task;
// the −STA ablation draws the same episodes and only skips the inner steps), plain multi-task LoRA
// (mixed batches over all pools, epoch by epoch) and MTL-LoRA (single-task batches, tasks in rotation).
// Each sampler owns its RNG stream and serialises its whole state, so a resumed run continues the exact
// sequence of an uninterrupted one.

import type { TaskSplit } from '../data/tasks';
import { Rng, type RngState } from '../util/rng';
import { DEFAULT_SETTINGS } from './settings';

/** One task's part of a MeTA-LoRA episode. */
export interface TaskEpisode {
  task: number;
  support: number[];
  query: number[];
}

/** An example of a task's training pool. */
export interface PoolItem {
  task: number;
  index: number;
}

/** A single-task batch (MTL-LoRA needs the task id to pick Λ_t and w_t). */
export interface TaskBatch {
  task: number;
  indices: number[];
}

/** A shuffled pass over n items, consumed in whole batches. */
interface EpochOrder {
  order: number[];
  cursor: number;
  epoch: number;
}

export interface SamplerState {
  kind: 'meta' | 'mixed' | 'per-task';
  rng: RngState;
  /** Epoch orders (mixed: one over all items; per-task: the task rotation first, then one per task). */
  orders: EpochOrder[];
}

export class SamplerError extends Error {
  override name = 'SamplerError';
}

function checkPools(poolSizes: readonly number[]): void {
  if (poolSizes.length === 0) throw new SamplerError('no tasks to sample from');
  poolSizes.forEach((n, t) => {
    if (!Number.isInteger(n) || n < 1) throw new SamplerError(`task ${t} has an empty training pool`);
  });
}

function positiveInt(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new SamplerError(`${what} must be a positive integer, got ${n}`);
}

/** Takes the next `size` items of an epoch, reshuffling first when fewer remain (no repeats in a batch). */
function takeBatch(o: EpochOrder, size: number, rng: Rng): number[] {
  if (o.cursor + size > o.order.length) {
    rng.shuffle(o.order);
    o.cursor = 0;
    o.epoch++;
  }
  o.cursor += size;
  return o.order.slice(o.cursor - size, o.cursor);
}

/** A fresh epoch order whose first take shuffles it (epoch 0 starts on the first batch). */
function freshOrder(n: number): EpochOrder {
  return { order: Array.from({ length: n }, (_, i) => i), cursor: n, epoch: -1 };
}

abstract class Sampler<T> {
  protected orders: EpochOrder[] = [];

  protected constructor(
    protected readonly kind: SamplerState['kind'],
    protected readonly rng: Rng,
  ) {}

  abstract next(): T;

  getState(): SamplerState {
    return { kind: this.kind, rng: this.rng.getState(), orders: structuredClone(this.orders) };
  }

  /** Restores a state from getState (for example from a checkpoint), checking it fits these pools. */
  setState(state: SamplerState): void {
    if (state.kind !== this.kind) throw new SamplerError(`sampler state is for '${state.kind}', not '${this.kind}'`);
    if (
      state.orders.length !== this.orders.length ||
      state.orders.some((o, i) => o.order.length !== this.orders[i].order.length || o.cursor > o.order.length)
    ) {
      throw new SamplerError("sampler state does not match the tasks' pool sizes (different data or settings?)");
    }
    this.rng.setState(state.rng);
    this.orders = structuredClone(state.orders);
  }

  /** Completed passes over the data (mixed: all pools; per-task: the task rotation). */
  get epoch(): number {
    return Math.max(0, this.orders[0]?.epoch ?? 0);
  }
}

/** MeTA-LoRA (and −STA): K = min(#tasks, tasksPerIteration) distinct tasks, each with disjoint S and Q. */
export class MetaEpisodeSampler extends Sampler<TaskEpisode[]> {
  readonly tasksPerIteration: number;
  private readonly sizes: { supportSize: number; querySize: number };

  constructor(
    private readonly poolSizes: readonly number[],
    opts: { tasksPerIteration: number; supportSize: number; querySize: number },
    rng: Rng,
  ) {
    super('meta', rng);
    checkPools(poolSizes);
    positiveInt('tasks per iteration', opts.tasksPerIteration);
    positiveInt('support size', opts.supportSize);
    positiveInt('query size', opts.querySize);
    poolSizes.forEach((n, t) => {
      if (opts.supportSize + opts.querySize > n) {
        throw new SamplerError(
          `task ${t}: support (${opts.supportSize}) + query (${opts.querySize}) examples exceed its ` +
            `training pool of ${n}; lower them or give the task more examples`,
        );
      }
    });
    this.tasksPerIteration = Math.min(poolSizes.length, opts.tasksPerIteration);
    this.sizes = { supportSize: opts.supportSize, querySize: opts.querySize };
  }

  next(): TaskEpisode[] {
    const { supportSize, querySize } = this.sizes;
    return this.rng.sample(this.poolSizes.length, this.tasksPerIteration).map((task) => {
      const drawn = this.rng.sample(this.poolSizes[task], supportSize + querySize);
      return { task, support: drawn.slice(0, supportSize), query: drawn.slice(supportSize) };
    });
  }
}

/** Plain multi-task LoRA: batches mixed over every task's pool, reshuffled each epoch. */
export class MixedBatchSampler extends Sampler<PoolItem[]> {
  private readonly items: PoolItem[];

  constructor(
    poolSizes: readonly number[],
    private readonly batchSize: number,
    rng: Rng,
  ) {
    super('mixed', rng);
    checkPools(poolSizes);
    positiveInt('batch size', batchSize);
    this.items = poolSizes.flatMap((n, task) => Array.from({ length: n }, (_, index) => ({ task, index })));
    if (batchSize > this.items.length) {
      throw new SamplerError(`batch size ${batchSize} exceeds the ${this.items.length} training examples of all tasks`);
    }
    this.orders = [freshOrder(this.items.length)];
  }

  next(): PoolItem[] {
    return takeBatch(this.orders[0], this.batchSize, this.rng).map((i) => this.items[i]);
  }
}

/**
 * MTL-LoRA: each call gives one task's batch. Tasks come in a rotation reshuffled every round (each task
 * once per round); each task's pool is consumed epoch by epoch on its own.
 */
export class TaskBatchSampler extends Sampler<TaskBatch> {
  constructor(
    poolSizes: readonly number[],
    private readonly batchSize: number,
    rng: Rng,
  ) {
    super('per-task', rng);
    checkPools(poolSizes);
    positiveInt('batch size', batchSize);
    poolSizes.forEach((n, t) => {
      if (batchSize > n) throw new SamplerError(`batch size ${batchSize} exceeds task ${t}'s training pool of ${n}`);
    });
    this.orders = [freshOrder(poolSizes.length), ...poolSizes.map(freshOrder)];
  }

  next(): TaskBatch {
    const [task] = takeBatch(this.orders[0], 1, this.rng);
    return { task, indices: takeBatch(this.orders[1 + task], this.batchSize, this.rng) };
  }
}

export interface EpisodePlan {
  seed: number;
  tasksPerIteration?: number;
  supportSize?: number;
  querySize?: number;
}

export interface EpisodePreview<E> {
  task: string;
  support: E[];
  query: E[];
}

/**
 * The first `count` MeTA-LoRA episodes over these splits' pools: K distinct tasks, each with disjoint support
 * and query sets. Drawn by the trainer's sampler from the seed's "sampler" stream, as runTraining derives it.
 */
export function sampleEpisodes<E>(
  splits: readonly TaskSplit<E>[],
  plan: EpisodePlan,
  count = 1,
): EpisodePreview<E>[][] {
  const sampler = new MetaEpisodeSampler(
    splits.map((s) => s.train.length),
    {
      tasksPerIteration: plan.tasksPerIteration ?? DEFAULT_SETTINGS.tasksPerIteration,
      supportSize: plan.supportSize ?? DEFAULT_SETTINGS.supportSize,
      querySize: plan.querySize ?? DEFAULT_SETTINGS.querySize,
    },
    Rng.fromSeed(plan.seed).derive('sampler'),
  );
  return Array.from({ length: count }, () =>
    sampler.next().map((e) => {
      const pool = splits[e.task].train;
      return { task: splits[e.task].name, support: e.support.map((i) => pool[i]), query: e.query.map((i) => pool[i]) };
    }),
  );
}
