// RMSNorm over the rows of x [T, D] with a frozen weight w [D]: forward saves rrms [T] (1/rms per row),
// backward gives dx only (norm weights are never trained here), optionally accumulated into dx.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import forwardSrc from '../../shaders/rmsnorm_forward.wgsl?raw';
import backwardSrc from '../../shaders/rmsnorm_backward.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const FORWARD_PARAMS = uniformStruct(forwardSrc, 'Params');
const BACKWARD_PARAMS = uniformStruct(backwardSrc, 'Params');

export interface RmsNormDims {
  T: number;
  D: number;
  /** Invocations per row (a power of two); defaults to rmsnormWorkgroupSize(ctx). */
  workgroupSize?: number;
}

/**
 * Invocations per row: on CPU adapters every invocation of a workgroup costs a fiber switch at each
 * barrier (on SwiftShader 16 ran ~3× faster than 64 at D = 576); GPUs want wider coalesced rows.
 */
export function rmsnormWorkgroupSize(ctx: GpuContext): number {
  return ctx.info.isSoftware ? 16 : 64;
}

export interface RmsNormOutputs {
  /** [T, D] normalised and weighted rows. */
  y: Tensor<'f32'>;
  /** [T] 1/sqrt(mean(x²) + eps) per row, the backward's only saved statistic. */
  rrms: Tensor<'f32'>;
}

/** Records y = x · rrms · w and rrms = 1/sqrt(mean(x²) + eps) per row of x [T, D]. */
export function rmsnorm(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  w: Tensor<'f32'>,
  dims: RmsNormDims & { eps: number },
  out: Partial<RmsNormOutputs> = {},
): RmsNormOutputs {
  const { T, D, eps } = dims;
  checkSize('x', x, T * D);
  checkSize('w', w, D);
  const y = out.y ?? ctx.tensor([T, D]);
  const rrms = out.rrms ?? ctx.tensor([T]);
  checkSize('y', y, T * D);
  checkSize('rrms', rrms, T);
  if (T === 0 || D === 0) return { y, rrms };
  const params = FORWARD_PARAMS.pack({ T, D, eps });
  const wg = workgroupSize(ctx, dims);
  ctx.dispatch(ctx.pipeline(forwardSrc, { WG: wg }), [x, w, y, rrms, ctx.uniform(params)], grid1d(ctx, T * wg, wg));
  return { y, rrms };
}

export interface RmsNormBackwardOptions {
  /** dx += result instead of dx = result: the residual stream sums the gradient of both branches. */
  accumulate?: boolean;
}

/** Records dx = ∂L/∂x of rmsnorm from dy [T, D], the forward's input x, w and saved rrms. */
export function rmsnormBackward(
  ctx: GpuContext,
  dy: Tensor<'f32'>,
  x: Tensor<'f32'>,
  w: Tensor<'f32'>,
  rrms: Tensor<'f32'>,
  dims: RmsNormDims,
  opts: RmsNormBackwardOptions = {},
  dx?: Tensor<'f32'>,
): Tensor<'f32'> {
  const { T, D } = dims;
  checkSize('dy', dy, T * D);
  checkSize('x', x, T * D);
  checkSize('w', w, D);
  checkSize('rrms', rrms, T);
  if (opts.accumulate && !dx) throw new Error('rmsnormBackward: accumulate needs the dx tensor to add into');
  const out = dx ?? ctx.tensor([T, D]);
  checkSize('dx', out, T * D);
  if (T === 0 || D === 0) return out;
  const wg = workgroupSize(ctx, dims);
  const pipeline = ctx.pipeline(backwardSrc, { ACCUMULATE: !!opts.accumulate, WG: wg });
  const params = BACKWARD_PARAMS.pack({ T, D });
  ctx.dispatch(pipeline, [dy, x, w, rrms, out, ctx.uniform(params)], grid1d(ctx, T * wg, wg));
  return out;
}

function workgroupSize(ctx: GpuContext, dims: RmsNormDims): number {
  const wg = dims.workgroupSize ?? rmsnormWorkgroupSize(ctx);
  if (wg & (wg - 1) || wg > ctx.device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`rmsnorm: workgroupSize ${wg} is not a power of two within the adapter's limit`);
  }
  return wg;
}

function checkSize(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`rmsnorm: ${name} has ${t.numel} elements, needs ${needed}`);
}
