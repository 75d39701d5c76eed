// MTL-LoRA's branch for one task t (DESIGN.md §4), forward and backward; the caller batches tokens per task.
//   forward  h = drop(x)·Aᵀ, z = h·Λ_tᵀ, π = softmax(w_t/τ), B_mix = Σ_i π_i B^i, y += s·z·B_mixᵀ;
//   backward G = s·dyᵀ·z, dB^i (+)= π_i·G, dπ_i = ⟨B^i, G⟩, dw_t (+)= π ⊙ (dπ − π·dπ)/τ,
//            dz = s·dy·B_mix, dΛ_t (+)= dzᵀ·h, dh = dz·Λ_t, then dA and dx exactly as plain LoRA.
// Shapes (row-major): x [T, in], A [r, in], Λ_t [r, r], B [n, out, r] (all B^i in one tensor), w_t [n].
// Per-task parameters (Λ_t, w_t) are separate tensors, so each call binds just its task's.
// Mixing B first (out·r·n work) keeps the token-sized work at one matmul, as for plain LoRA, and every
// reduction (G, dπ, dw) runs on the GPU. As for LoRA, the last product of each direction (y += s·z·B_mixᵀ,
// dx += dh·A) is a LowRank that the base linear adds in its epilogue.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { MtlLoraDims, MtlLoraOptions, MtlLoraSaved } from './contracts';
import { grid1d } from './grid';
import type { LowRank } from './linear';
import { type BranchInputGradient, droppedInput, loraInputBackward, tokenProduct } from './lora';
import { matmul } from './matmul';
import mixSrc from '../../shaders/mtl_lora_mix.wgsl?raw';
import gradBSrc from '../../shaders/mtl_lora_grad_b.wgsl?raw';
import gradWSrc from '../../shaders/mtl_lora_grad_w.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const MIX_PARAMS = uniformStruct(mixSrc, 'Params');
const GRAD_B_PARAMS = uniformStruct(gradBSrc, 'Params');
const GRAD_W_PARAMS = uniformStruct(gradWSrc, 'Params');

export type { MtlLoraDims, MtlLoraOptions };

/** Kept from the forward for the backward (the caller releases them): h, z [T, r], π [n], B_mix [out, r]. */
export type MtlLoraActivations = MtlLoraSaved<Tensor<'f32'>> & { bMix: Tensor<'f32'> };

export interface MtlLoraGrads {
  dA: Tensor<'f32'>;
  /** This task's Λ_t gradient [r, r]. */
  dLambda: Tensor<'f32'>;
  /** [n, out, r], one per B^i. */
  dBs: Tensor<'f32'>;
  /** This task's mixing-logit gradient [n]. */
  dw: Tensor<'f32'>;
  /** Add to every gradient (summing micro-batches) instead of overwriting. */
  accumulate?: boolean;
}

const WG = 64;

/**
 * The task's MTL-LoRA branch up to its last product: returns what backward needs and y += s·z·B_mixᵀ as the
 * LowRank for the base linear (z and B_mix are among the saved tensors).
 */
export function mtlLoraForward(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  A: Tensor<'f32'>,
  lambda: Tensor<'f32'>,
  Bs: Tensor<'f32'>,
  w: Tensor<'f32'>,
  d: MtlLoraDims,
  o: MtlLoraOptions,
): { saved: MtlLoraActivations; lowRank: LowRank } {
  checkDims(x, A, lambda, Bs, d);
  check('mtlLoraForward w', w, d.n);
  const xd = droppedInput(ctx, x, d, o);
  const h = matmul(ctx, xd, A, d.T, d.r, d.in, { transB: true });
  if (xd !== x) xd.release();
  const z = matmul(ctx, h, lambda, d.T, d.r, d.r, { transB: true });

  const size = d.out * d.r;
  const pi = ctx.tensor([d.n]);
  const bMix = ctx.tensor([d.out, d.r]);
  ctx.dispatch(
    ctx.pipeline(mixSrc),
    [w, Bs, pi, bMix, ctx.uniform(MIX_PARAMS.pack({ size, n: d.n, inv_tau: 1 / o.tau }))],
    grid1d(ctx, size, WG),
  );
  return { saved: { h, z, pi, bMix }, lowRank: { H: z, L: bMix, r: d.r, scale: o.scale, transposed: false } };
}

/**
 * Backward from dy [T, out] with the forward's activations: gradients of A, Λ_t, every B^i and w_t
 * (+= when grads.accumulate), and the branch's input gradient part to add to dx (BranchInputGradient).
 * Dropout options (p, seed) and τ must be those of the forward.
 */
export function mtlLoraBackward(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  saved: MtlLoraActivations,
  dy: Tensor<'f32'>,
  A: Tensor<'f32'>,
  lambda: Tensor<'f32'>,
  Bs: Tensor<'f32'>,
  d: MtlLoraDims,
  o: MtlLoraOptions,
  grads: MtlLoraGrads,
): BranchInputGradient {
  checkDims(x, A, lambda, Bs, d);
  check('mtlLoraBackward dy', dy, d.T * d.out);
  const accumulate = !!grads.accumulate;
  const size = d.out * d.r;

  // G = s·dyᵀ·z is B_mix's gradient; all of B's and w's gradients derive from it without the tokens.
  const g = tokenProduct(ctx, dy, saved.z, d.out, d.r, d.T, { alpha: o.scale }, ctx.tensor([d.out, d.r]));
  ctx.dispatch(
    ctx.pipeline(gradBSrc, { ACCUMULATE: accumulate }),
    [saved.pi, g, grads.dBs, ctx.uniform(GRAD_B_PARAMS.pack({ size, count: d.n * size }))],
    grid1d(ctx, d.n * size, WG),
  );
  const dpi = ctx.tensor([d.n]);
  ctx.dispatch(
    ctx.pipeline(gradWSrc, { ACCUMULATE: accumulate }),
    [saved.pi, Bs, g, dpi, grads.dw, ctx.uniform(GRAD_W_PARAMS.pack({ size, n: d.n, inv_tau: 1 / o.tau }))],
    [1],
  );
  dpi.release();
  g.release();

  const dz = matmul(ctx, dy, saved.bMix, d.T, d.r, d.out, { alpha: o.scale });
  tokenProduct(ctx, dz, saved.h, d.r, d.r, d.T, { accumulate }, grads.dLambda);
  const dh = matmul(ctx, dz, lambda, d.T, d.r, d.r);
  dz.release();
  return loraInputBackward(ctx, x, dh, A, d, o, grads.dA, accumulate);
}

function checkDims(x: Tensor, A: Tensor, lambda: Tensor, Bs: Tensor, d: MtlLoraDims): void {
  if (!(d.n >= 1)) throw new Error(`MTL-LoRA needs at least one B matrix, got n = ${d.n}`);
  check('MTL-LoRA x', x, d.T * d.in);
  check('MTL-LoRA A', A, d.r * d.in);
  check('MTL-LoRA lambda', lambda, d.r * d.r);
  check('MTL-LoRA Bs', Bs, d.n * d.out * d.r);
}

function check(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`${name} has ${t.numel} elements, needs ${needed}`);
}
