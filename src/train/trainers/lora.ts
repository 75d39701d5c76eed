// Plain multi-task LoRA (docs/DESIGN.md §4's baseline): each iteration takes the next mixed batch of the epoch
// over every task's pool (MixedBatchSampler), minimises its token-mean loss with AdamW (the schedule, warm-up
// then cosine or constant, is the driver's), and logs each task's share of the batch.
//
// The batch runs as one sub-batch per task so each task's loss is known without a readback per sequence;
// trainStep normalises each sub-batch's gradient by its own scored count c_t, so the list is rescaled between
// sub-batches (Horner's scheme: after task t it holds Σ_{u≤t} G_u / c_t, with G_u the gradient of task u's
// summed loss) and finally by c_last/C, which leaves exactly ∇(Σ_t G_t / C), the mixed batch's token mean.

import { fill, scale } from '../../ops/paramOps';
import { MixedBatchSampler } from '../episodes';
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
  packPool,
  paramLike,
  readIterationScalars,
} from './common';

export function createLoraTrainer(env: TrainerEnv, samplerRng: Rng): Trainer {
  const { ctx, model, adapter, settings: s } = env;
  const sampler = new MixedBatchSampler(
    env.tasks.map((t) => t.train.length),
    s.batchSize,
    samplerRng,
  );
  const grads = paramLike(ctx, adapter);
  const optimizer = new OuterOptimizer(ctx, adapter, s);
  const everything = allParams(adapter);

  return {
    optimizer,
    async iterate(iteration, lr): Promise<IterationOutcome> {
      const items = sampler.next();
      const present = [...new Set(items.map((it) => it.task))].sort((a, b) => a - b);
      const batches = present.map((task) => ({
        task,
        batch: packPool(
          env,
          task,
          items.filter((it) => it.task === task).map((it) => it.index),
        ),
      }));
      fill(ctx, grads, 0);
      const readout = new ScalarReadout();
      let scored = 0;
      let previous = 0;
      const slots = batches.map(({ task, batch }) => {
        if (previous > 0 && batch.scored > 0) scale(ctx, grads, previous / batch.scored);
        const total = trainStep(
          ctx,
          model,
          adapter,
          batch,
          { task, dropoutSeed: env.dropout.nextU32(), params: adapter.params },
          grads,
          { recompute: env.recompute },
        );
        if (batch.scored > 0) previous = batch.scored;
        scored += batch.scored;
        return readout.add(total);
      });
      if (scored > 0) scale(ctx, grads, previous / scored);
      optimizer.update(grads, lr, [{ indices: everything, step: iteration + 1 }]);
      const { f32, gradNorm, nonFiniteParams } = await readIterationScalars(env, optimizer, grads, readout);

      const sum = slots.reduce((a, at) => a + f32[at], 0);
      return {
        tasks: batches.map(({ task }, i) => ({ task, support: null, query: meanAt(f32, slots[i]) })),
        objective: scored > 0 ? sum / scored : NaN,
        gradNorm,
        tokens: batches.reduce((n, b) => n + b.batch.tokenCount, 0),
        nonFinite: nonFiniteParams || !Number.isFinite(sum),
      };
    },
    samplerState: () => sampler.getState(),
    restore: (state) => sampler.setState(state),
    release() {
      grads.forEach((t) => t.release());
      optimizer.release();
    },
  };
}
