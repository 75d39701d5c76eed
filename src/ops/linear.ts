// linear: products with a frozen base weight W (out×in, f32 | f16 | q8_0 | q4_0 in GGML's layout).
// Forward y = alpha·x·Wᵀ and the input gradient dx = alpha·dy·W; never dW (base weights are frozen).
// f16 and quantized weights are decoded in registers as they load (no f32 copy of W is ever made); f32
// weights go through matmul on a zero-copy f32 view of the same buffer.

import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { matmul } from './matmul';
import { rowBytes, type Weight, type WeightType } from './weight';
import { withLib } from '../gpu/wgsl';
import commonSrc from '../../shaders/lib/linear_common.wgsl?raw';
import f16Src from '../../shaders/linear_f16.wgsl?raw';
import q8Src from '../../shaders/linear_q8_0.wgsl?raw';
import q4Src from '../../shaders/linear_q4_0.wgsl?raw';
import dxF16Src from '../../shaders/linear_dx_f16.wgsl?raw';
import dxQ8Src from '../../shaders/linear_dx_q8_0.wgsl?raw';
import dxQ4Src from '../../shaders/linear_dx_q4_0.wgsl?raw';

export interface LinearOptions {
  /** out += result instead of out = result (the model adds the LoRA path into the same activation). */
  accumulate?: boolean;
  alpha?: number;
}

type DecodedType = Exclude<WeightType, 'f32'>;

/**
 * Output covered by one workgroup of 8×8 invocations: forward kernels compute 8 tokens × 8 outputs each,
 * input-gradient kernels 16 tokens × 8 inputs (more tokens share each decoded weight there).
 */
const FORWARD_TILE = { cols: 64, rows: 64 };
const BACKWARD_TILE = { cols: 64, rows: 128 };

const FORWARD: Record<DecodedType, string> = {
  f16: withLib(f16Src, commonSrc),
  q8_0: withLib(q8Src, commonSrc),
  q4_0: withLib(q4Src, commonSrc),
};
const BACKWARD_INPUT: Record<DecodedType, string> = {
  f16: withLib(dxF16Src, commonSrc),
  q8_0: withLib(dxQ8Src, commonSrc),
  q4_0: withLib(dxQ4Src, commonSrc),
};

/** Records y = alpha·x·Wᵀ (+ y when accumulating): x is [T, w.cols], y is [T, w.rows], f32 row-major. */
export function linear(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  w: Weight,
  T: number,
  opts: LinearOptions = {},
  out?: Tensor<'f32'>,
): Tensor<'f32'> {
  checkSize('x', x, T * w.cols);
  const y = out ?? ctx.tensor([T, w.rows]);
  checkSize('y', y, T * w.rows);
  if (T === 0 || w.rows === 0) return y;
  if (w.type === 'f32') return matmul(ctx, x, f32View(w), T, w.rows, w.cols, { ...opts, transB: true }, y);
  // Output [T, rows]: workgroups tile rows of W along x and tokens along y.
  const groups: [number, number] = [Math.ceil(w.rows / FORWARD_TILE.cols), Math.ceil(T / FORWARD_TILE.rows)];
  dispatch(ctx, FORWARD[w.type], x, w, y, groups, T, opts);
  return y;
}

/**
 * Records dx = alpha·dy·W (+ dx when accumulating): the input gradient of `linear`. dy is [T, w.rows],
 * dx is [T, w.cols], f32 row-major. Activation gradients are usually written; the model accumulates here to
 * add the base path into the LoRA path's dx.
 */
export function linearBackwardInput(
  ctx: GpuContext,
  dy: Tensor<'f32'>,
  w: Weight,
  T: number,
  opts: LinearOptions = {},
  out?: Tensor<'f32'>,
): Tensor<'f32'> {
  checkSize('dy', dy, T * w.rows);
  const dx = out ?? ctx.tensor([T, w.cols]);
  checkSize('dx', dx, T * w.cols);
  if (T === 0 || w.cols === 0) return dx;
  if (w.type === 'f32') return matmul(ctx, dy, f32View(w), T, w.cols, w.rows, opts, dx);
  // Output [T, cols]: workgroups tile columns of W along x and tokens along y.
  const groups: [number, number] = [Math.ceil(w.cols / BACKWARD_TILE.cols), Math.ceil(T / BACKWARD_TILE.rows)];
  dispatch(ctx, BACKWARD_INPUT[w.type], dy, w, dx, groups, T, opts);
  return dx;
}

function dispatch(
  ctx: GpuContext,
  code: string,
  input: Tensor<'f32'>,
  w: Weight,
  output: Tensor<'f32'>,
  groups: [number, number],
  T: number,
  opts: LinearOptions,
): void {
  const constants: Record<string, boolean> = { ACCUMULATE: !!opts.accumulate };
  // f16 rows of odd length start mid-word every other row; the kernel funnels words only when it must.
  if (w.type === 'f16') constants.ODD_K = w.cols % 2 === 1;
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([T, w.rows, w.cols, 0, rowBytes(w.type, w.cols), 0, 0, 0]);
  new Float32Array(params)[3] = opts.alpha ?? 1;
  ctx.dispatch(ctx.pipeline(code, constants), [input, w.data, output, ctx.uniform(new Uint8Array(params))], groups);
}

/** The f32 weight's words seen as a [rows, cols] f32 tensor: same buffer, no copy; the Weight owns it. */
function f32View(w: Weight): Tensor<'f32'> {
  return new Tensor(w.data.buffer, [w.rows, w.cols], 'f32', () => {
    throw new Error('linear: the f32 view of a weight is not releasable; release the Weight');
  });
}

function checkSize(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`linear: ${name} has ${t.numel} elements, the product needs ${needed}`);
}
