// Inner adaptation: θ_local ← θ, then a few plain SGD steps on one task's examples. It is MeTA-LoRA's inner
// loop (trainers/metaLora.ts) and, at evaluation, test-time adaptation — the same steps on k examples of a
// task's training pool before its held-out set is scored — which is what meta-learning trains for and what a
// user with a few examples of a new task wants. One function, so what is evaluated is what was trained.

import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { sgdStep } from '../ops/optimizer';
import { copyInto, fill } from '../ops/paramOps';
import { packBatch } from './batch';
import { Rng } from '../util/rng';
import { type TrainBatch, type TrainModel, trainStep } from './step';
import type { TokenizedExample } from '../data/tasks';
import { paramLike } from './trainers/common';

export interface InnerSteps {
  steps: number;
  lr: number;
  recompute?: boolean;
}

/**
 * Records θ_local ← θ (adapter.params) and `o.steps` SGD steps on `batch` as task `task`, `grad` being scratch
 * shaped like the parameters. Dropout seeds come from `nextSeed`, one per step. Returns the {Σ loss, count}
 * tensor of the first step (the loss at θ itself; the caller releases it).
 */
export function recordInnerSteps(ctx: GpuContext, model: TrainModel, adapter: Adapter, batch: TrainBatch, task: number,
  local: Tensor<'f32'>[], grad: Tensor<'f32'>[], o: InnerSteps, nextSeed: () => number): Tensor<'f32'> {
  copyInto(ctx, local, adapter.params);
  let first: Tensor<'f32'> | null = null;
  for (let s = 0; s < o.steps; s++) {
    fill(ctx, grad, 0);
    const total = trainStep(ctx, model, adapter, batch, { task, dropoutSeed: nextSeed(), params: local }, grad,
      { recompute: o.recompute });
    if (first === null) first = total;
    else total.release();
    sgdStep(ctx, local, grad, o.lr);
  }
  return first ?? ctx.tensor([2]);
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
export function adaptToTask(ctx: GpuContext, model: TrainModel, adapter: Adapter, task: number, taskName: string,
  pool: readonly TokenizedExample[], o: TestTimeAdaptation): Tensor<'f32'>[] {
  if (pool.length === 0) throw new Error(`test-time adaptation: task ${taskName} has no training examples to adapt on`);
  const batch = packBatch(adaptationIndices(pool.length, taskName, o).map((i) => pool[i]));
  const local = paramLike(ctx, adapter);
  const grad = paramLike(ctx, adapter);
  recordInnerSteps(ctx, model, adapter, batch, task, local, grad, { steps: o.steps, lr: o.lr }, () => 0).release();
  grad.forEach((t) => t.release());
  return local;
}
