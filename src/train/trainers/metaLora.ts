// MeTA-LoRA (first-order, two stages) and its −STA ablation, exactly as docs/DESIGN.md §4 specifies, per iteration:
//   1. K tasks without replacement; 2. per task disjoint support S_i and query Q_i (MetaEpisodeSampler);
//   3. θ_i ← copy of θ on the GPU, then `innerSteps` plain SGD steps θ_i ← θ_i − α∇L_S(θ_i) (no momentum);
//   4. g_i = ∇L_Q(θ_i) at the adapted θ_i, first order (the inner steps are not differentiated through);
//   5. θ ← AdamW(θ, mean_i g_i, lr β) with global-norm clipping.
// The ablation skips step 3: g_i is taken at θ itself. Only θ (and AdamW's moments) persist; θ_i, the inner
// gradient and the summed query gradient are scratch lists reused by every task and iteration.

import type { Tensor } from '../../gpu/tensor';
import { fill, scale } from '../../ops/paramOps';
import { recordInnerSteps } from '../adapt';
import { MetaEpisodeSampler } from '../episodes';
import type { Rng } from '../../util/rng';
import { type TrainBatch, trainStep } from '../step';
import {
  type IterationOutcome, OuterOptimizer, ScalarReadout, type Trainer, type TrainerEnv, allParams, meanAt, packPool, paramLike, readIterationScalars,
} from './common';

/** One task's part of an episode, packed. */
export interface EpisodeBatches {
  task: number;
  support: TrainBatch;
  query: TrainBatch;
}

/** The scratch lists of an iteration, shaped like the adapter's parameters. */
export interface MetaBuffers {
  /** θ_i, the task-local copy the inner steps adapt. */
  local: Tensor<'f32'>[];
  /** ∇L_S(θ_i) of the current inner step. */
  inner: Tensor<'f32'>[];
  /** Σ_i g_i while tasks run, then their mean: the outer gradient. */
  outer: Tensor<'f32'>[];
}

export interface MetaOptions {
  /** false: the −STA ablation (no inner steps). */
  sta: boolean;
  innerSteps: number;
  innerLr: number;
}

/**
 * Records steps 3–4 for every task and leaves mean_i g_i in buffers.outer. Dropout seeds are drawn from
 * `nextSeed` in a fixed order — per task, one per inner step, then one for the query pass — which the float64
 * reference (src/reference/metaIteration.ts) follows. Returns each task's {Σ loss, count} tensors: the
 * support loss at θ_i = θ before the first inner step (null for the ablation), and the query loss at the
 * adapted θ_i.
 */
export function recordMetaIteration(env: Pick<TrainerEnv, 'ctx' | 'model' | 'adapter' | 'recompute'>, buffers: MetaBuffers,
  episodes: readonly EpisodeBatches[], o: MetaOptions, nextSeed: () => number):
  { support: (Tensor<'f32'> | null)[]; query: Tensor<'f32'>[] } {
  const { ctx, model, adapter } = env;
  const opts = { recompute: env.recompute };
  fill(ctx, buffers.outer, 0);
  const support: (Tensor<'f32'> | null)[] = [];
  const query: Tensor<'f32'>[] = [];
  for (const ep of episodes) {
    let params = adapter.params;
    let first: Tensor<'f32'> | null = null;
    if (o.sta) {
      first = recordInnerSteps(ctx, model, adapter, ep.support, ep.task, buffers.local, buffers.inner,
        { steps: o.innerSteps, lr: o.innerLr, recompute: env.recompute }, nextSeed);
      params = buffers.local;
    }
    support.push(first);
    // Each task's query gradient adds into the same list (trainStep accumulates), then one scale makes the mean.
    query.push(trainStep(ctx, model, adapter, ep.query, { task: ep.task, dropoutSeed: nextSeed(), params }, buffers.outer, opts));
  }
  scale(ctx, buffers.outer, 1 / episodes.length);
  return { support, query };
}

/** The meta-lora (sta = true) or meta-lora-no-sta (sta = false) trainer. */
export function createMetaTrainer(env: TrainerEnv, samplerRng: Rng, sta: boolean): Trainer {
  const { ctx, adapter, settings: s } = env;
  const sampler = new MetaEpisodeSampler(env.tasks.map((t) => t.train.length),
    { tasksPerIteration: s.tasksPerIteration, supportSize: s.supportSize, querySize: s.querySize }, samplerRng);
  const buffers: MetaBuffers = { local: paramLike(ctx, adapter), inner: paramLike(ctx, adapter), outer: paramLike(ctx, adapter) };
  const optimizer = new OuterOptimizer(ctx, adapter, s);
  const everything = allParams(adapter);
  const options: MetaOptions = { sta, innerSteps: s.innerSteps, innerLr: s.innerLr };

  return {
    optimizer,
    async iterate(iteration, lr): Promise<IterationOutcome> {
      const episodes = sampler.next().map((e) => ({
        task: e.task, support: packPool(env, e.task, e.support), query: packPool(env, e.task, e.query),
      }));
      const { support, query } = recordMetaIteration(env, buffers, episodes, options, () => env.dropout.nextU32());
      optimizer.update(buffers.outer, lr, [{ indices: everything, step: iteration + 1 }]);
      const readout = new ScalarReadout();
      const slots = episodes.map((_, i) => {
        const first = support[i];
        return { support: first ? readout.add(first) : null, query: readout.add(query[i]) };
      });
      const { f32, gradNorm, nonFiniteParams } = await readIterationScalars(env, optimizer, buffers.outer, readout);

      const tasks = episodes.map((e, i) => ({
        task: e.task,
        support: slots[i].support === null ? null : meanAt(f32, slots[i].support!),
        query: meanAt(f32, slots[i].query),
      }));
      // Tokens through forward + backward: each inner step's support pass (meta-lora only) and the query pass.
      const tokens = episodes.reduce((n, e) => n + (sta ? s.innerSteps * e.support.tokenCount : 0) + e.query.tokenCount, 0);
      const sums = slots.flatMap((sl) => (sl.support === null ? [sl.query] : [sl.query, sl.support])).map((at) => f32[at]);
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
      [...buffers.local, ...buffers.inner, ...buffers.outer].forEach((t) => t.release());
      optimizer.release();
    },
  };
}
