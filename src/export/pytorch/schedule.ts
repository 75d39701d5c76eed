// The exported run's schedule, drawn by the studio's own samplers from the seed's streams exactly as
// src/train/run.ts derives them: for each iteration, what it trains on (episodes, a mixed batch or one task's
// batch, as pool indices) and the dropout seeds of its forward passes in the trainers' order. The recipe's
// train.py draws the same from its port of the generators and refuses to run if the two ever differ.

import { MetaEpisodeSampler, MixedBatchSampler, TaskBatchSampler } from '../../train/episodes';
import { Rng } from '../../util/rng';
import type { TrainSettings } from '../../train/settings';

/** One iteration: meta {task, support, query}[], lora [task, index][], mtl-lora {task, indices}. */
export interface ScheduledIteration {
  plan: unknown;
  seeds: number[];
}

/** The schedule of `iterations` iterations for tasks with these training-pool sizes. */
export function recipeSchedule(
  s: TrainSettings,
  poolSizes: readonly number[],
  iterations = s.iterations,
): ScheduledIteration[] {
  const root = Rng.fromSeed(s.seed);
  const samplerRng = root.derive('sampler');
  const dropout = root.derive('dropout');
  const seeds = (n: number) => Array.from({ length: n }, () => dropout.nextU32());
  const out: ScheduledIteration[] = [];
  if (s.method === 'meta-lora' || s.method === 'meta-lora-no-sta') {
    const sampler = new MetaEpisodeSampler(poolSizes, s, samplerRng);
    // Per task: one pass per inner step (meta-lora only), then the query pass.
    const perTask = s.method === 'meta-lora' ? s.innerSteps + 1 : 1;
    for (let i = 0; i < iterations; i++) {
      const plan = sampler.next();
      out.push({ plan, seeds: seeds(plan.length * perTask) });
    }
  } else if (s.method === 'lora') {
    const sampler = new MixedBatchSampler(poolSizes, s.batchSize, samplerRng);
    for (let i = 0; i < iterations; i++) {
      const plan = sampler.next().map((it) => [it.task, it.index]);
      // One pass per task present in the batch (trainers/lora.ts runs a sub-batch per task).
      out.push({ plan, seeds: seeds(new Set(plan.map(([t]) => t)).size) });
    }
  } else {
    const sampler = new TaskBatchSampler(poolSizes, s.batchSize, samplerRng);
    for (let i = 0; i < iterations; i++) out.push({ plan: sampler.next(), seeds: seeds(1) });
  }
  return out;
}
