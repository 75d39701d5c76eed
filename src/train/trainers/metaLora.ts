// MeTA-LoRA (first-order, two stages) and its −STA ablation, exactly as docs/DESIGN.md §4 specifies, per iteration:
//   1. K tasks without replacement; 2. per task disjoint support S_i and query Q_i (MetaEpisodeSampler);
//   3. θ_i ← copy of θ on the GPU, then `innerSteps` plain SGD steps θ_i ← θ_i − α∇L_S(θ_i) (no momentum);
//   4. g_i = ∇L_Q(θ_i) at the adapted θ_i, first order (the inner steps are not differentiated through);
//   5. θ ← AdamW(θ, mean_i g_i, lr β) with global-norm clipping.
// The ablation skips step 3: g_i is taken at θ itself. Only θ (and AdamW's moments) persist; θ_i, the inner
// gradients and the summed query gradient are scratch reused by every iteration.
// Batched episodes: the K tasks are independent until step 5, so each pass runs all of them at once — the K
// supports (or queries) as one batch of K row groups, θ_1…θ_K stacked in one pack, every LoRA product a
// batched matmul whose batch index is the task — (inner steps + 1) passes per iteration instead of K times
// that. Each task keeps its own loss mean, dropout seeds and row numbering, so the values are those of K
// separate passes (src/reference/metaIteration.ts is the per-task specification).

import type { Tensor } from '../../gpu/tensor';
import { type StackedPack, stackedPack } from '../../gpu/tensorPack';
import { fill, scale } from '../../ops/paramOps';
import { groupedRun, recordInnerSteps } from '../adapt';
import { type GroupedBatch, packGroups } from '../batch';
import { MetaEpisodeSampler, type TaskEpisode } from '../episodes';
import type { Rng } from '../../util/rng';
import { trainStep } from '../step';
import {
  type IterationOutcome,
  OuterOptimizer,
  ScalarReadout,
  type Trainer,
  type TrainerEnv,
  allParams,
  meanAt,
  paramLike,
  readIterationScalars,
} from './common';

/** An iteration's K supports and K queries, each packed as one batch of K row groups (task order). */
export interface EpisodeBatches {
  support: GroupedBatch;
  query: GroupedBatch;
}

/** The scratch lists of an iteration, shaped like the adapter's parameters. */
export interface MetaBuffers {
  /** θ_1…θ_K, the task-local copies the inner steps adapt (null for the ablation). */
  local: StackedPack | null;
  /** ∇L_S(θ_i) of the current inner step, per task (null for the ablation). */
  inner: StackedPack | null;
  /** Σ_i g_i, then their mean: the outer gradient. */
  outer: Tensor<'f32'>[];
}

export interface MetaOptions {
  /** false: the −STA ablation (no inner steps). */
  sta: boolean;
  innerSteps: number;
  innerLr: number;
}

/** Packs an iteration's episodes: supports and queries, each one grouped batch in task order. */
export function packEpisodes(env: Pick<TrainerEnv, 'tasks'>, episodes: readonly TaskEpisode[]): EpisodeBatches {
  const pick = (e: TaskEpisode, indices: readonly number[]) => ({
    task: e.task,
    examples: indices.map((i) => env.tasks[e.task].train[i]),
  });
  return {
    support: packGroups(episodes.map((e) => pick(e, e.support))),
    query: packGroups(episodes.map((e) => pick(e, e.query))),
  };
}

/**
 * Records steps 3–4 for every task and leaves mean_i g_i in buffers.outer. `seeds[k]` are task k's dropout
 * seeds in the order the float64 reference (src/reference/metaIteration.ts) draws them: one per inner step,
 * then the query pass's. Returns {Σ loss, count} per task [2K]: the support loss at θ_i = θ before the
 * first inner step (null for the ablation), and the query loss at the adapted θ_i.
 */
export function recordMetaIteration(
  env: Pick<TrainerEnv, 'ctx' | 'model' | 'adapter' | 'recompute'>,
  buffers: MetaBuffers,
  episodes: EpisodeBatches,
  o: MetaOptions,
  seeds: readonly (readonly number[])[],
): { support: Tensor<'f32'> | null; query: Tensor<'f32'> } {
  const { ctx, model, adapter } = env;
  const K = episodes.query.tasks.length;
  fill(ctx, buffers.outer, 0);
  const shared = adapter.params.map(() => 0);
  let params = { views: adapter.params, strides: shared };
  let support: Tensor<'f32'> | null = null;
  if (o.sta) {
    if (!buffers.local || !buffers.inner) throw new Error('MeTA-LoRA: the inner steps need local copies');
    support = recordInnerSteps(
      ctx,
      model,
      adapter,
      episodes.support,
      buffers.local,
      buffers.inner,
      { steps: o.innerSteps, lr: o.innerLr, recompute: env.recompute },
      (s) => seeds.map((t) => t[s]),
    );
    params = { views: buffers.local.strided, strides: buffers.local.strides };
  }
  // Every task's query gradient at its θ_i, summed into one list (gradient stride 0), then one scale: the mean.
  const run = groupedRun(
    episodes.query,
    seeds.map((t) => t[t.length - 1]),
    params.views,
    params.strides,
    shared,
  );
  const query = trainStep(ctx, model, adapter, episodes.query.batch, run, buffers.outer, { recompute: env.recompute });
  scale(ctx, buffers.outer, 1 / K);
  return { support, query };
}

/** The meta-lora (sta = true) or meta-lora-no-sta (sta = false) trainer. */
export function createMetaTrainer(env: TrainerEnv, samplerRng: Rng, sta: boolean): Trainer {
  const { ctx, adapter, settings: s } = env;
  const sampler = new MetaEpisodeSampler(
    env.tasks.map((t) => t.train.length),
    { tasksPerIteration: s.tasksPerIteration, supportSize: s.supportSize, querySize: s.querySize },
    samplerRng,
  );
  const K = sampler.tasksPerIteration;
  const buffers: MetaBuffers = {
    local: sta ? stackedPack(ctx, adapter.params, K) : null,
    inner: sta ? stackedPack(ctx, adapter.params, K) : null,
    outer: paramLike(ctx, adapter),
  };
  const optimizer = new OuterOptimizer(ctx, adapter, s);
  const everything = allParams(adapter);
  const options: MetaOptions = { sta, innerSteps: s.innerSteps, innerLr: s.innerLr };
  const passes = sta ? s.innerSteps + 1 : 1;

  return {
    optimizer,
    async iterate(iteration, lr): Promise<IterationOutcome> {
      const episodes = sampler.next();
      const batches = packEpisodes(env, episodes);
      // Drawn task by task, as when tasks ran one after another (the reference and the exported schedule).
      const seeds = episodes.map(() => Array.from({ length: passes }, () => env.dropout.nextU32()));
      const { support, query } = recordMetaIteration(env, buffers, batches, options, seeds);
      optimizer.update(buffers.outer, lr, [{ indices: everything, step: iteration + 1 }]);
      const readout = new ScalarReadout();
      const supportAt = support ? readout.add(support) : null;
      const queryAt = readout.add(query);
      const { f32, gradNorm, nonFiniteParams } = await readIterationScalars(env, optimizer, buffers.outer, readout);

      const tasks = episodes.map((e, k) => ({
        task: e.task,
        support: supportAt === null ? null : meanAt(f32, supportAt + 2 * k),
        query: meanAt(f32, queryAt + 2 * k),
      }));
      // Tokens through forward + backward: each inner step's support pass (meta-lora only) and the query pass.
      const tokens = (sta ? s.innerSteps * batches.support.batch.tokenCount : 0) + batches.query.batch.tokenCount;
      const sums = [queryAt, ...(supportAt === null ? [] : [supportAt])].flatMap((at) =>
        episodes.map((_, k) => f32[at + 2 * k]),
      );
      return {
        tasks,
        objective: tasks.reduce((a, t) => a + t.query, 0) / tasks.length,
        gradNorm,
        tokens,
        nonFinite: nonFiniteParams || !sums.every(Number.isFinite),
      };
    },
    samplerState: () => sampler.getState(),
    restore: (state) => sampler.setState(state),
    release() {
      buffers.local?.release();
      buffers.inner?.release();
      buffers.outer.forEach((t) => t.release());
      optimizer.release();
    },
  };
}
