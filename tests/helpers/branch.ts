// Applies an adapter branch's last products the way the base linear does for f32 weights (addLowRank), so op
// tests can check a branch without a base weight: y += the forward's LowRank; dx += the input gradient part.

import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { type LowRank, addLowRank } from '../../src/ops/linear';
import type { BranchInputGradient } from '../../src/ops/lora';

export function addBranchOutput(ctx: GpuContext, lowRank: LowRank, T: number, cols: number, y: Tensor<'f32'>): void {
  addLowRank(ctx, lowRank, T, cols, y);
}

export function addBranchDx(
  ctx: GpuContext,
  part: BranchInputGradient,
  T: number,
  cols: number,
  dx: Tensor<'f32'>,
): void {
  if (part.lowRank) addLowRank(ctx, part.lowRank, T, cols, dx);
  part.finish(dx);
}
