// Element-wise operations on lists of parameter-sized tensors: the adapter's parameters, their gradients
// and optimizer state are each a list of f32 tensors, and MeTA-LoRA copies, sums, averages and checks them
// every iteration (DESIGN.md §4). Every op records dispatches only; nothing is read back.
// Lists that are views of one TensorPack (src/gpu/tensorPack.ts: adapters, gradients, copies and moments
// are) are coalesced into spans, so an op costs one dispatch per pack buffer, not one per tensor; other
// lists get one dispatch per tensor.

import type { Binding, GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { coalesce } from '../gpu/tensorPack';
import { grid1d } from './grid';
import axpySrc from '../../shaders/param_axpy.wgsl?raw';
import fillSrc from '../../shaders/param_fill.wgsl?raw';
import nonfiniteSrc from '../../shaders/param_nonfinite.wgsl?raw';
import scaleSrc from '../../shaders/param_scale.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const FILL_PARAMS = uniformStruct(fillSrc, 'Params');
const AXPY_PARAMS = uniformStruct(axpySrc, 'Params');
const SCALE_PARAMS = uniformStruct(scaleSrc, 'Params');
const NONFINITE_PARAMS = uniformStruct(nonfiniteSrc, 'Params');

/** Parameters, gradients or optimizer state: one f32 tensor per adapter matrix. */
export type TensorList = readonly Tensor<'f32'>[];

/** Invocations per workgroup of the one-element-per-invocation kernels (their WG override). */
export const ELEMENTWISE_WG = 64;

/** Records an element-wise kernel over n elements, one invocation each. */
export function dispatchElementwise(ctx: GpuContext, code: string, bindings: Binding[], n: number): void {
  ctx.dispatch(ctx.pipeline(code, { WG: ELEMENTWISE_WG }), bindings, grid1d(ctx, n, ELEMENTWISE_WG));
}

/** Throws unless the lists pair up tensor by tensor with equal element counts. */
export function checkPaired(op: string, a: readonly Tensor[], b: readonly Tensor[], what = 'operand'): void {
  if (a.length !== b.length) throw new Error(`${op}: ${a.length} tensors but ${b.length} of ${what}`);
  a.forEach((t, i) => {
    if (t.numel !== b[i].numel)
      throw new Error(`${op}: tensor ${i} has ${t.numel} elements but its ${what} has ${b[i].numel}`);
  });
}

/** The same bytes of the same buffer (a span and the list it covers, or a tensor and itself). */
function sameStorage(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.offset === b.offset;
}

/** dst[i] ← src[i] for each pair (θ_i ← θ before a task's inner steps). */
export function copyInto(ctx: GpuContext, dst: TensorList, src: TensorList): void {
  checkPaired('copyInto', dst, src, 'source');
  const [D, S] = coalesce([dst, src]);
  D.forEach((d, i) => {
    if (!sameStorage(d, S[i]) && d.numel > 0) ctx.copy(S[i], d, d.byteLength);
  });
}

/** Every element ← value, converted to the tensor's dtype (zeroing gradients and flags). */
export function fill(ctx: GpuContext, tensors: readonly Tensor[], value: number): void {
  const word = new DataView(new ArrayBuffer(4));
  const f32 = tensors.filter((t): t is Tensor<'f32'> => t.dtype === 'f32');
  for (const t of [...coalesce([f32])[0], ...tensors.filter((t) => t.dtype !== 'f32')]) {
    if (t.dtype === 'f32') word.setFloat32(0, value, true);
    else if (t.dtype === 'u32') word.setUint32(0, value, true);
    else word.setInt32(0, value, true);
    const bits = word.getUint32(0, true);
    dispatchElementwise(ctx, fillSrc, [t, ctx.uniform(FILL_PARAMS.pack({ n: t.numel, bits }))], t.numel);
  }
}

/** y[i] ← y[i] + α·x[i] for each pair (summing task gradients). */
export function axpy(ctx: GpuContext, y: TensorList, x: TensorList, alpha: number): void {
  checkPaired('axpy', y, x, 'x');
  y.forEach((t, i) => {
    if (t === x[i]) throw new Error('axpy: y and x must be different tensors');
  });
  const [Y, X] = coalesce([y, x]);
  Y.forEach((t, i) =>
    dispatchElementwise(ctx, axpySrc, [t, X[i], ctx.uniform(AXPY_PARAMS.pack({ n: t.numel, alpha }))], t.numel),
  );
}

/** x ← α·x in place. */
export function scale(ctx: GpuContext, x: TensorList, alpha: number): void {
  for (const t of coalesce([x])[0])
    dispatchElementwise(ctx, scaleSrc, [t, ctx.uniform(SCALE_PARAMS.pack({ n: t.numel, alpha }))], t.numel);
}

/**
 * dst ← (1/K)·Σ_k srcs[k], tensor by tensor (the mean of the K tasks' query gradients). Summed in list
 * order, then scaled by the f32 nearest 1/K. dst may be srcs[0] itself.
 */
export function meanInto(ctx: GpuContext, dst: TensorList, srcs: readonly TensorList[]): void {
  if (srcs.length === 0) throw new Error('meanInto: no sources');
  srcs.forEach((s) => checkPaired('meanInto', dst, s, 'source'));
  copyInto(ctx, dst, srcs[0]);
  for (const s of srcs.slice(1)) axpy(ctx, dst, s, 1);
  scale(ctx, dst, 1 / srcs.length);
}

/**
 * Sets flag[0] to a non-zero value if any element of the tensors is NaN or ±Inf; never clears it.
 * Without `flag`, a fresh zeroed one is created. The trainer reads it (ctx.read) when it logs and stops.
 */
export function nonFiniteFlag(ctx: GpuContext, tensors: readonly Tensor<'f32'>[], flag?: Tensor<'u32'>): Tensor<'u32'> {
  const out = flag ?? ctx.tensor([1], 'u32', 'nonfinite flag');
  if (!flag) fill(ctx, [out], 0);
  for (const t of coalesce([tensors])[0]) {
    dispatchElementwise(ctx, nonfiniteSrc, [t, out, ctx.uniform(NONFINITE_PARAMS.pack({ n: t.numel }))], t.numel);
  }
  return out;
}
