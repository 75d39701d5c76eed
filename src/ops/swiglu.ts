// SwiGLU, the LLaMA MLP's gate: h = silu(g) ⊙ u over the gate and up projections [T, F] (any length), and
// its backward dg, du from dh. The backward recomputes σ(g) rather than saving it: g and u are kept anyway.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { withLib } from '../gpu/wgsl';
import forwardKernel from '../../shaders/swiglu_forward.wgsl?raw';
import swigluLib from '../../shaders/lib/swiglu_common.wgsl?raw';
import backwardSrc from '../../shaders/swiglu_backward.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const WG = 64;
const forwardSrc = withLib(forwardKernel, swigluLib);
const FORWARD_PARAMS = uniformStruct(forwardSrc, 'Params');
const BACKWARD_PARAMS = uniformStruct(backwardSrc, 'Params');

/** Records h = g·σ(g)·u elementwise; h has g's shape. */
export function swiglu(ctx: GpuContext, g: Tensor<'f32'>, u: Tensor<'f32'>, out?: Tensor<'f32'>): Tensor<'f32'> {
  const n = g.numel;
  checkSize('u', u, n);
  const h = out ?? ctx.tensor(g.shape);
  checkSize('h', h, n);
  ctx.dispatch(ctx.pipeline(forwardSrc), [g, u, h, ctx.uniform(FORWARD_PARAMS.pack({ n }))], grid1d(ctx, n, WG));
  return h;
}

export interface SwigluGrads {
  dg: Tensor<'f32'>;
  du: Tensor<'f32'>;
}

/** Records dg = dh·u·σ(g)·(1 + g·(1 − σ(g))) and du = dh·g·σ(g) (written, not accumulated). */
export function swigluBackward(
  ctx: GpuContext,
  dh: Tensor<'f32'>,
  g: Tensor<'f32'>,
  u: Tensor<'f32'>,
  out: Partial<SwigluGrads> = {},
): SwigluGrads {
  const n = g.numel;
  checkSize('dh', dh, n);
  checkSize('u', u, n);
  const dg = out.dg ?? ctx.tensor(g.shape);
  const du = out.du ?? ctx.tensor(g.shape);
  checkSize('dg', dg, n);
  checkSize('du', du, n);
  ctx.dispatch(
    ctx.pipeline(backwardSrc),
    [dh, g, u, dg, du, ctx.uniform(BACKWARD_PARAMS.pack({ n }))],
    grid1d(ctx, n, WG),
  );
  return { dg, du };
}

function checkSize(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`swiglu: ${name} has ${t.numel} elements, needs ${needed}`);
}
