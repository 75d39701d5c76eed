// Inner adaptation: θ_local ← θ, then a few plain SGD steps on one task's examples — or on K tasks' at once,
// each with its own copy, as one batch of K row groups. It is MeTA-LoRA's inner loop (trainers/metaLora.ts)
// and, at evaluation, test-time adaptation — the same steps on k examples of a task's training pool before
// its held-out set is scored — which is what meta-learning trains for and what a user with a few examples
// of a new task wants. One function, so what is evaluated is what was trained.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { type StackedPack, stackedPack } from '../gpu/tensorPack';
import { sgdStep } from '../ops/optimizer';
import { copyInto, fill } from '../ops/paramOps';
import { type GroupedBatch, packGroups } from './batch';
import { Rng } from '../util/rng';
import { type TrainModel, trainStep } from './step';
import type { TokenizedExample } from '../data/tasks';

export interface InnerSteps {
  steps: number;
  lr: number;
  recompute?: boolean;
}

/**
 * The run of one pass over a grouped batch: each group (task) with its dropout seed, computing with its copy
 * in `params` (views reaching every copy, paramStrides apart; 0: one shared copy) and adding its gradient
 * into its copy (gradStrides apart) or, with strides 0, into one sum. One group is a plain run.
 */
export function groupedRun(
  b: GroupedBatch,
  seeds: readonly number[],
  params: Tensor<'f32'>[],
  paramStrides: readonly number[],
  gradStrides: readonly number[],
): AdapterRun {
  if (seeds.length !== b.tasks.length)
    throw new Error(`groupedRun: ${seeds.length} dropout seeds for ${b.tasks.length} tasks`);
  if (b.tasks.length === 1) return { task: b.tasks[0], dropoutSeed: seeds[0], params };
  return {
    task: b.tasks[0],
    dropoutSeed: seeds[0],
    params,
    groups: { seeds, seqLens: b.seqLens, seq: b.batch.S, paramStrides, gradStrides },
  };
}

/**
 * Records θ_g ← θ (adapter.params) into every copy of `local` (one per task of `b`), then `o.steps` SGD
 * steps, all tasks in one pass per step, each on its own rows with its own copy: `grad` is scratch stacked
 * like `local`. `stepSeeds(s)` gives step s's dropout seed of each task. Returns the {Σ loss, count} [2G]
 * of the first step (each task's loss at θ itself; the caller releases it).
 */
export function recordInnerSteps(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  b: GroupedBatch,
  local: StackedPack,
  grad: StackedPack,
  o: InnerSteps,
  stepSeeds: (step: number) => readonly number[],
): Tensor<'f32'> {
  if (local.copies.length !== b.tasks.length || grad.copies.length !== b.tasks.length) {
    throw new Error(
      `recordInnerSteps: ${local.copies.length} parameter and ${grad.copies.length} gradient copies for ${b.tasks.length} tasks`,
    );
  }
  for (const copy of local.copies) copyInto(ctx, copy, adapter.params);
  let first: Tensor<'f32'> | null = null;
  for (let s = 0; s < o.steps; s++) {
    fill(ctx, grad.all, 0);
    const run = groupedRun(b, stepSeeds(s), local.strided, local.strides, grad.strides);
    const total = trainStep(ctx, model, adapter, b.batch, run, grad.strided, { recompute: o.recompute });
    if (first === null) first = total;
    else total.release();
    sgdStep(ctx, local.all, grad.all, o.lr);
  }
  return first ?? ctx.tensor([2 * b.tasks.length]);
}

export interface TestTimeAdaptation {
  /** Examples of the task's training pool the steps run on (one batch); at most the pool's size. */
  examples: number;
  steps: number;
  lr: number;
  /** Picks the examples (with the task's name), so an evaluation is reproducible. */
  seed: number;
}

/** Which pool examples test-time adaptation uses: a seeded draw of min(k, pool) distinct indices. */
export function adaptationIndices(poolSize: number, taskName: string, o: TestTimeAdaptation): number[] {
  return Rng.fromSeed(o.seed).derive(`adapt:${taskName}`).sample(poolSize, Math.min(poolSize, o.examples));
}

/**
 * The adapter's parameters adapted to one task: a new list (the caller releases it) after the inner steps on
 * k examples of `pool`, run as task `task` (MTL-LoRA's id), without dropout.
 */
export function adaptToTask(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  task: number,
  taskName: string,
  pool: readonly TokenizedExample[],
  o: TestTimeAdaptation,
): Tensor<'f32'>[] {
  if (pool.length === 0) throw new Error(`test-time adaptation: task ${taskName} has no training examples to adapt on`);
  const b = packGroups([{ task, examples: adaptationIndices(pool.length, taskName, o).map((i) => pool[i]) }]);
  const local = stackedPack(ctx, adapter.params, 1);
  const grad = stackedPack(ctx, adapter.params, 1);
  recordInnerSteps(ctx, model, adapter, b, local, grad, { steps: o.steps, lr: o.lr }, () => [0]).release();
  grad.release();
  return local.copies[0];
}
