// MTL-LoRA (docs/DESIGN.md §4): each iteration is one task's batch (tasks in a reshuffled rotation,
// TaskBatchSampler), run with that task's id so its Λ_t and w_t are used, then AdamW.
//
// Only the tensors the batch touched are stepped: the shared A and B^i every iteration, Λ_t and w_t only in
// task t's iterations, each group with its own AdamW step count. That is what PyTorch does — a tensor left
// out of the graph has no gradient and AdamW skips it, neither decaying it nor advancing its step — so a
// task's tensors are not shrunk by weight decay while other tasks train, and their bias corrections start
// at their own first step.

import type { MetricsRecord } from '../metrics';
import { fill } from '../../ops/paramOps';
import { TaskBatchSampler } from '../episodes';
import type { Rng } from '../../util/rng';
import { trainStep } from '../step';
import {
  type IterationOutcome,
  OuterOptimizer,
  ScalarReadout,
  type Trainer,
  type TrainerEnv,
  meanAt,
  packPool,
  paramLike,
  readIterationScalars,
} from './common';

/** MTL-LoRA's per-task tensor names end in mtl_lora_Lambda.{t}.weight or mtl_lora_w.{t} (src/adapters/mtlLora.ts). */
const TASK_TENSOR = /\.mtl_lora_(?:Lambda\.(\d+)\.weight|w\.(\d+))$/;

/** The task a parameter belongs to, or null for the shared A and B stacks. */
export function taskOfParam(name: string): number | null {
  const m = TASK_TENSOR.exec(name);
  return m ? Number(m[1] ?? m[2]) : null;
}

export function createMtlTrainer(env: TrainerEnv, samplerRng: Rng): Trainer {
  const { ctx, model, adapter, settings: s } = env;
  if (adapter.kind !== 'mtl-lora') throw new Error('the mtl-lora trainer needs an MTL-LoRA adapter');
  const sampler = new TaskBatchSampler(
    env.tasks.map((t) => t.train.length),
    s.batchSize,
    samplerRng,
  );
  const grads = paramLike(ctx, adapter);
  const optimizer = new OuterOptimizer(ctx, adapter, s);
  const owner = adapter.names.map(taskOfParam);
  const shared = owner.flatMap((t, i) => (t === null ? [i] : []));
  const own = env.tasks.map((_, task) => owner.flatMap((t, i) => (t === task ? [i] : [])));
  /** AdamW steps taken by each task's own tensors. */
  let taskSteps = env.tasks.map(() => 0);

  return {
    optimizer,
    async iterate(iteration, lr): Promise<IterationOutcome> {
      const { task, indices } = sampler.next();
      const batch = packPool(env, task, indices);
      fill(ctx, grads, 0);
      const total = trainStep(
        ctx,
        model,
        adapter,
        batch,
        { task, dropoutSeed: env.dropout.nextU32(), params: adapter.params },
        grads,
        { recompute: env.recompute },
      );
      taskSteps[task]++;
      optimizer.update(grads, lr, [
        { indices: shared, step: iteration + 1 },
        { indices: own[task], step: taskSteps[task] },
      ]);
      const readout = new ScalarReadout();
      const lossAt = readout.add(total);
      const { f32, gradNorm, nonFiniteParams } = await readIterationScalars(env, optimizer, grads, readout);
      const query = meanAt(f32, lossAt);
      return {
        tasks: [{ task, support: null, query }],
        objective: query,
        gradNorm,
        tokens: batch.tokenCount,
        nonFinite: nonFiniteParams || !Number.isFinite(f32[lossAt]),
      };
    },
    samplerState: () => sampler.getState(),
    restore(state, metrics: readonly MetricsRecord[]) {
      sampler.setState(state);
      // Each iteration wrote exactly one training row, for its task (evaluation rows carry eval_loss).
      taskSteps = env.tasks.map((t) => metrics.filter((r) => r.task === t.name && r.eval_loss === undefined).length);
    },
    release() {
      grads.forEach((t) => t.release());
      optimizer.release();
    },
  };
}
