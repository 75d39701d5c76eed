// Adapters: the trainable parameters attached to the frozen base's linear layers. Every adapter exposes its
// parameters as one ordered list of named f32 tensors, so optimizers, copies (MeTA-LoRA's local θ_i),
// gradient means, checkpoints and exports treat LoRA and MTL-LoRA alike.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { LlamaConfig } from '../model/config';
import type { RowGroups } from '../ops/lora';

/** Linear layers an adapter can target (PEFT's module names: q_proj, k_proj, … down_proj). */
export type TargetModule = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';

export const ALL_TARGETS: TargetModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

/** The module a (layer, target) adapts, named as PEFT names it: base_model.model.model.layers.{l}.self_attn.q_proj. */
export function modulePath(layer: number, target: TargetModule): string {
  const module = target === 'gate' || target === 'up' || target === 'down' ? `mlp.${target}_proj` : `self_attn.${target}_proj`;
  return `base_model.model.model.layers.${layer}.${module}`;
}

/** Input and output features of a target's frozen linear (out×in), from the model's shape. */
export function targetDims(cfg: LlamaConfig, target: TargetModule): { in: number; out: number } {
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  switch (target) {
    case 'q': return { in: cfg.dim, out: q };
    case 'k':
    case 'v': return { in: cfg.dim, out: kv };
    case 'o': return { in: q, out: cfg.dim };
    case 'gate':
    case 'up': return { in: cfg.dim, out: cfg.hiddenDim };
    case 'down': return { in: cfg.hiddenDim, out: cfg.dim };
  }
}

export interface LoraSettings {
  rank: number;
  alpha: number;
  /** Dropout on the adapter's input (LoRA branch only); 0 disables it. */
  dropout: number;
  targets: TargetModule[];
}

export interface MtlLoraSettings extends LoraSettings {
  /** Number of up-projections B^i shared by all tasks. */
  nUp: number;
  /** Softmax temperature of the mixing weights w_t. */
  tau: number;
  /** Number of tasks (one Λ_t and one w_t each). */
  tasks: number;
  /** Mixing-weight init: Kaiming-uniform random (official code) or uniform (all equal). */
  wInit: 'kaiming' | 'uniform';
}

/** What the model needs of an adapter at one (layer, target) site, forward and backward. */
export interface AdapterSite {
  /** Records y += adapter(x) for T tokens of task `task`; returns what backward needs (released by it). */
  forward(ctx: GpuContext, x: Tensor<'f32'>, y: Tensor<'f32'>, T: number, run: AdapterRun): Tensor<'f32'>[];
  /**
   * Records the parameter gradients (accumulated into the site's slots of `grads`) and dx += ∂/∂x, from the
   * forward's input x, its saved tensors and dy. Releases the saved tensors.
   */
  backward(ctx: GpuContext, x: Tensor<'f32'>, saved: Tensor<'f32'>[], dy: Tensor<'f32'>, dx: Tensor<'f32'>, T: number,
    run: AdapterRun, grads: Tensor<'f32'>[]): void;
}

/** Per-call settings: which task (MTL-LoRA), the dropout seed of this step, which parameter list to use. */
export interface AdapterRun {
  task: number;
  dropoutSeed: number;
  /**
   * Parameters to compute with: the adapter's own, or a local copy (MeTA-LoRA's θ_i), same order. With
   * `groups` and non-zero paramStrides, each tensor's view reaches every group's copy (StackedPack.strided).
   */
  params: Tensor<'f32'>[];
  /** Several tasks in one batch (MeTA-LoRA's episodes); absent: one group, dropoutSeed, shared parameters. */
  groups?: RunGroups;
}

/**
 * The batch's rows as G = seeds.length equal contiguous groups, each computed as if it ran alone: its own
 * dropout seed and row numbering (RowGroups), its own parameter copy, its own gradient copy or one summed.
 */
export interface RunGroups extends RowGroups {
  /** Per parameter: elements between the groups' copies in run.params (0: every group uses the one copy). */
  paramStrides: readonly number[];
  /** Per parameter: the same for the gradient list backward adds into (0: the groups' gradients are summed). */
  gradStrides: readonly number[];
}

export interface Adapter {
  readonly kind: 'lora' | 'mtl-lora';
  readonly settings: LoraSettings | MtlLoraSettings;
  /** Parameter names (PEFT-style where one exists) and tensors, in one fixed order. */
  readonly names: string[];
  readonly params: Tensor<'f32'>[];
  /** The site of a (layer, target), or null when that module is not adapted. */
  site(layer: number, target: TargetModule): AdapterSite | null;
  release(): void;
}
