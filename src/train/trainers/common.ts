// What the three trainers share: their environment (GPU, model, adapter, tokenized tasks, settings, the
// dropout-seed stream), the outer AdamW optimizer with GPU-resident clipping, and the one batched readback
// per iteration. An iteration records all its GPU work, then reads the logged scalars (each pass's
// {Σ loss, count}, the gradient norm and the non-finite flag) in a single copy-and-read, so nothing else
// crosses back to the host inside an iteration (docs/DESIGN.md §8).

import type { Adapter } from '../../adapters/types';
import type { GpuContext } from '../../gpu/context';
import type { Tensor } from '../../gpu/tensor';
import { TensorPack } from '../../gpu/tensorPack';
import { adamwStep, gradNorm } from '../../ops/optimizer';
import { fill, nonFiniteFlag } from '../../ops/paramOps';
import { type PackedBatch, packBatch } from '../batch';
import type { SamplerState } from '../episodes';
import type { MetricsRecord } from '../metrics';
import type { Rng } from '../../util/rng';
import type { TrainSettings } from '../settings';
import type { TrainModel } from '../step';
import type { TaskSplit, TokenizedExample } from '../../data/tasks';

export interface TrainerEnv {
  ctx: GpuContext;
  model: TrainModel;
  adapter: Adapter;
  /** Tokenized tasks in training order (task i is index i everywhere: samplers, MTL-LoRA's task id). */
  tasks: readonly TaskSplit<TokenizedExample>[];
  settings: TrainSettings;
  /** One draw per forward pass: the pass's dropout seed (its state is checkpointed). */
  dropout: Rng;
  /** Recompute block activations in the backward (less memory, same gradients). */
  recompute?: boolean;
}

/** One sampled task's losses in an iteration (means over scored tokens). */
export interface TaskLosses {
  task: number;
  /** Support loss before the first inner step (meta-lora only), else null. */
  support: number | null;
  query: number;
}

export interface IterationOutcome {
  tasks: TaskLosses[];
  /** The loss the outer gradient was taken of (mean over tasks for MeTA-LoRA, the token mean of the batch otherwise). */
  objective: number;
  /** Global norm of the outer gradient before clipping. */
  gradNorm: number;
  /** Real tokens that went through the model in this iteration (forward and backward passes). */
  tokens: number;
  /** A loss, the outer gradient or the updated parameters held NaN or ±Inf. */
  nonFinite: boolean;
}

export interface Trainer {
  /** The outer AdamW whose moments are checkpointed. */
  readonly optimizer: OuterOptimizer;
  /** Runs 0-based iteration `iteration` at outer rate `lr`: records it, then reads its scalars once. */
  iterate(iteration: number, lr: number): Promise<IterationOutcome>;
  samplerState(): SamplerState;
  /**
   * Restores the sampler (resume). `metrics` are the run's rows so far: MTL-LoRA recounts from them how many
   * AdamW steps each task's own tensors have taken; the other trainers need only the sampler.
   */
  restore(sampler: SamplerState, metrics: readonly MetricsRecord[]): void;
  release(): void;
}

/** Packs examples of one task's training pool by index. */
export function packPool(env: TrainerEnv, task: number, indices: readonly number[]): PackedBatch {
  const pool = env.tasks[task].train;
  return packBatch(indices.map((i) => pool[i]));
}

/** A zero-filled list shaped like the adapter's parameters (gradients, copies, moments). */
export function paramLike(ctx: GpuContext, adapter: Adapter): Tensor<'f32'>[] {
  // Packed like the parameters, so list ops pair span by span (one dispatch per op); zeroed on creation.
  const pack = TensorPack.like(ctx, adapter.params);
  if (pack) return pack.tensors;
  const list = adapter.params.map((p) => ctx.tensor(p.shape));
  fill(ctx, list, 0);
  return list;
}

/** A group of parameters that share AdamW's step count (PyTorch keeps one per tensor). */
export interface StepGroup {
  indices: number[];
  /** 1-based step index this update is for that group. */
  step: number;
}

/**
 * The outer AdamW (PyTorch semantics, docs/DESIGN.md §4) over the adapter's parameters, with its moments on the
 * GPU. Every update first writes {norm, clip factor} of the whole gradient into `clip` (the factor is 1
 * when clipping is off), which AdamW reads on the GPU.
 */
export class OuterOptimizer {
  readonly m: Tensor<'f32'>[];
  readonly v: Tensor<'f32'>[];
  readonly clip: Tensor<'f32'>;

  constructor(
    private readonly ctx: GpuContext,
    private readonly adapter: Adapter,
    private readonly settings: TrainSettings,
  ) {
    this.m = paramLike(ctx, adapter);
    this.v = paramLike(ctx, adapter);
    this.clip = ctx.tensor([2], 'f32', 'clip');
  }

  /** Records clip + AdamW at rate lr, each group of tensors with its own step count. */
  update(grads: readonly Tensor<'f32'>[], lr: number, groups: readonly StepGroup[]): void {
    const s = this.settings;
    gradNorm(this.ctx, grads, s.gradClip > 0 ? s.gradClip : Infinity, this.clip);
    const opts = { lr, beta1: s.beta1, beta2: s.beta2, weightDecay: s.weightDecay };
    const pick = <T>(list: readonly T[], g: StepGroup) => g.indices.map((i) => list[i]);
    for (const g of groups) {
      adamwStep(
        this.ctx,
        pick(this.adapter.params, g),
        pick(grads, g),
        pick(this.m, g),
        pick(this.v, g),
        { ...opts, step: g.step },
        this.clip,
      );
    }
  }

  release(): void {
    [...this.m, ...this.v, this.clip].forEach((t) => t.release());
  }
}

/** Every parameter index: one group for methods whose every tensor is updated every iteration. */
export function allParams(adapter: Adapter): number[] {
  return adapter.params.map((_, i) => i);
}

/**
 * Small GPU tensors gathered for one readback: each is copied into one staging tensor (in stream order,
 * after the work that wrote it) and read together. Slots are in 32-bit words; u32 tensors (the flag) are
 * read through a Uint32Array view of the same bytes.
 */
export class ScalarReadout {
  private parts: { t: Tensor; at: number; owned: boolean }[] = [];
  private words = 0;

  /** Queues `t` (released after the read unless `owned` is false); returns its first word's slot. */
  add(t: Tensor, owned = true): number {
    const at = this.words;
    this.parts.push({ t, at, owned });
    this.words += t.numel;
    return at;
  }

  async read(ctx: GpuContext): Promise<{ f32: Float32Array; u32: Uint32Array }> {
    const staging = ctx.tensor([Math.max(1, this.words)], 'f32', 'scalar readout');
    for (const { t, at } of this.parts) ctx.copy(t, staging, t.byteLength, 0, 4 * at);
    const bytes = await ctx.readBytes(staging.buffer, 4 * this.words);
    staging.release();
    this.parts.forEach(({ t, owned }) => owned && t.release());
    this.parts = [];
    return { f32: new Float32Array(bytes), u32: new Uint32Array(bytes) };
  }
}

/** The scalars every iteration reads besides its losses, from the same single readback. */
export interface IterationScalars {
  /** Every word read, the losses' slots included. */
  f32: Float32Array;
  /** Global norm of the outer gradient before clipping. */
  gradNorm: number;
  /** The outer gradient or the updated parameters held NaN or ±Inf. */
  nonFiniteParams: boolean;
}

/**
 * Ends an iteration after its AdamW update was recorded: records the NaN/Inf check of the outer gradient and the
 * updated parameters, queues it and the clip buffer's gradient norm after the losses already in `readout`, and
 * reads everything in one copy (the iteration's only readback).
 */
export async function readIterationScalars(
  env: TrainerEnv,
  optimizer: OuterOptimizer,
  grads: readonly Tensor<'f32'>[],
  readout: ScalarReadout,
): Promise<IterationScalars> {
  const flagAt = readout.add(nonFiniteFlag(env.ctx, [...grads, ...env.adapter.params]));
  const normAt = readout.add(optimizer.clip, false);
  const { f32, u32 } = await readout.read(env.ctx);
  return { f32, gradNorm: f32[normAt], nonFiniteParams: u32[flagAt] !== 0 };
}

/** Mean loss from a {Σ loss, count} pair at `at` (NaN when nothing was scored, so it is never mistaken for 0). */
export function meanAt(values: Float32Array, at: number): number {
  return values[at + 1] > 0 ? values[at] / values[at + 1] : NaN;
}
