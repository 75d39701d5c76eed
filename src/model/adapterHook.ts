// What the model asks of an adapter at each adapted linear layer. It is defined here, below src/adapters/
// (which shapes adapters from a model's config), so the model never imports the adapters: they implement it.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { LowRank } from '../ops/linear';
import type { BranchInputGradient, RowGroups } from '../ops/lora';
import type { SplitKReduce } from '../ops/splitK';

/** Linear layers an adapter can target (PEFT's module names: q_proj, k_proj, … down_proj). */
export type TargetModule = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down';

export const ALL_TARGETS: TargetModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];

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

/** A site's forward: what its backward needs, and its last product, which the base linear adds to y. */
export interface AdapterBranch {
  /** Released by the site's backward (or by the caller when no backward follows, once the linear is recorded). */
  saved: Tensor<'f32'>[];
  lowRank: LowRank;
}

/**
 * What the model needs of an adapter at one (layer, target) site, forward and backward. Each is recorded
 * BEFORE the base linear of its direction, which adds the returned low-rank product in its epilogue
 * (src/ops/linear.ts), so a branch's last product costs no dispatch of its own.
 */
export interface AdapterSite {
  /** Records the branch on x for T tokens up to its last product (y += lowRank, by the caller's linear). */
  forward(ctx: GpuContext, x: Tensor<'f32'>, T: number, run: AdapterRun): AdapterBranch;
  /**
   * Records the parameter gradients (accumulated into the site's slots of `grads`) from the forward's input x,
   * its saved tensors (released here) and dy, and returns the branch's part of dx: the caller passes its
   * `lowRank` to the base layer's input-gradient linear, then calls `finish(dx)` once. With `reduce`,
   * gradient reduces may be queued on it: `grads` hold their values once the caller flushes it.
   */
  backward(
    ctx: GpuContext,
    x: Tensor<'f32'>,
    saved: Tensor<'f32'>[],
    dy: Tensor<'f32'>,
    T: number,
    run: AdapterRun,
    grads: Tensor<'f32'>[],
    reduce?: SplitKReduce,
  ): BranchInputGradient;
}

/** The model's view of an adapter: the site of a (layer, target), or null when that module is not adapted. */
export interface AdapterSites {
  site(layer: number, target: TargetModule): AdapterSite | null;
}
