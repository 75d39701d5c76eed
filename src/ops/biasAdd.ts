// Bias add over the rows of an activation: y[t, n] += b[n] for y [T, N], in place (Qwen2 adds biases to the
// q, k and v projections; our linear kernels have no bias term, since LLaMA has none anywhere else).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import src from '../../shaders/bias_add.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const PARAMS = uniformStruct(src, 'Params');
const WG = 64;

/** Records y[t, n] += b[n] for every row t of y [T, N] (N = b's length); returns y. */
export function biasAdd(ctx: GpuContext, y: Tensor<'f32'>, b: Tensor<'f32'>, T: number): Tensor<'f32'> {
  const n = b.numel;
  const total = T * n;
  if (y.numel < total) throw new Error(`biasAdd: y has ${y.numel} elements, needs ${T}×${n} = ${total}`);
  if (total === 0) return y;
  ctx.dispatch(ctx.pipeline(src), [ctx.uniform(PARAMS.pack({ total, n })), y, b], grid1d(ctx, total, WG));
  return y;
}
