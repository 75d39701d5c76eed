// Adapters: the trainable parameters attached to the frozen base's linear layers. Every adapter exposes its
// parameters as one ordered list of named f32 tensors, so optimizers, copies (MeTA-LoRA's local θ_i),
// gradient means, checkpoints and exports treat LoRA and MTL-LoRA alike.

import type { Tensor } from '../gpu/tensor';
import {
  ALL_TARGETS,
  type AdapterRun,
  type AdapterSite,
  type AdapterSites,
  type RunGroups,
  type TargetModule,
} from '../model/adapterHook';
import type { LlamaConfig } from '../model/config';

// The hook the model calls (src/model/adapterHook.ts), re-exported for the adapters and their users.
export { ALL_TARGETS, type AdapterRun, type AdapterSite, type RunGroups, type TargetModule };

/** The module a (layer, target) adapts, named as PEFT names it: base_model.model.model.layers.{l}.self_attn.q_proj. */
export function modulePath(layer: number, target: TargetModule): string {
  const module =
    target === 'gate' || target === 'up' || target === 'down' ? `mlp.${target}_proj` : `self_attn.${target}_proj`;
  return `base_model.model.model.layers.${layer}.${module}`;
}

/** Input and output features of a target's frozen linear (out×in), from the model's shape. */
export function targetDims(cfg: LlamaConfig, target: TargetModule): { in: number; out: number } {
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  switch (target) {
    case 'q':
      return { in: cfg.dim, out: q };
    case 'k':
    case 'v':
      return { in: cfg.dim, out: kv };
    case 'o':
      return { in: q, out: cfg.dim };
    case 'gate':
    case 'up':
      return { in: cfg.dim, out: cfg.hiddenDim };
    case 'down':
      return { in: cfg.hiddenDim, out: cfg.dim };
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

export interface Adapter extends AdapterSites {
  readonly kind: 'lora' | 'mtl-lora';
  readonly settings: LoraSettings | MtlLoraSettings;
  /** Parameter names (PEFT-style where one exists) and tensors, in one fixed order. */
  readonly names: string[];
  readonly params: Tensor<'f32'>[];
  /** The site of a (layer, target), or null when that module is not adapted. */
  site(layer: number, target: TargetModule): AdapterSite | null;
  release(): void;
}
