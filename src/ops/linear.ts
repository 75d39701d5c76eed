// linear: products with a frozen base weight W (out×in, f32 | f16 | q8_0 | q4_0 in GGML's layout).
// Forward y = alpha·x·Wᵀ and the input gradient dx = alpha·dy·W; never dW (base weights are frozen).
// f16 and quantized weights are decoded in registers as they load (no f32 copy of W is ever made); f32
// weights go through matmul on a zero-copy f32 view of the same buffer.
// An adapter's low-rank product (`lowRank`: LoRA's s·h·Bᵀ forward, dh·A for the input gradient) is added in
// the same kernel's epilogue (shaders/lib/linear_common.wgsl), so the branch costs no dispatch of its own;
// with f32 weights it is one more matmul into the output (`addLowRank`). Likewise the up projection writes
// SwiGLU's h = silu(g) ⊙ u as it stores u (`gated`; f32 weights: the swiglu kernel).
// With a few tokens (decoding) the forward may run the GEMV kernel instead (src/ops/linearGemv.ts), through
// the same parameters, bindings and epilogue.

import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { matmul } from './matmul';
import { rowBytes, type Weight, type WeightType } from './weight';
import { withLib } from '../gpu/wgsl';
import linearLib from '../../shaders/lib/linear_common.wgsl?raw';
import swigluLib from '../../shaders/lib/swiglu_common.wgsl?raw';
import { swiglu } from './swiglu';
import { gemvKernel } from './linearGemv';
import f16Src from '../../shaders/linear_f16.wgsl?raw';
import q8Src from '../../shaders/linear_q8_0.wgsl?raw';
import q4Src from '../../shaders/linear_q4_0.wgsl?raw';
import dxF16Src from '../../shaders/linear_dx_f16.wgsl?raw';
import dxQ8Src from '../../shaders/linear_dx_q8_0.wgsl?raw';
import dxQ4Src from '../../shaders/linear_dx_q4_0.wgsl?raw';

export interface LinearOptions {
  /** out += result instead of out = result (the model sums paths into one activation). */
  accumulate?: boolean;
  alpha?: number;
  /** out also gets this low-rank product (an adapter's branch), in the same kernel. */
  lowRank?: LowRank;
  /** Forward only: also writes gated.out = silu(gated.gate) ⊙ out (SwiGLU after the up projection). */
  gated?: { gate: Tensor<'f32'>; out: Tensor<'f32'> };
}

/**
 * out[t, c] += scale·Σ_j H[t, j]·L[c, j] for the T output rows, L being [cols, r] (LoRA's B, forward) or with
 * `transposed` [r, cols] (LoRA's A, input gradient). With `groups`, the rows are that many equal contiguous
 * groups and group g uses the copy of L `stride`·g elements on (0: one copy for all).
 */
export interface LowRank {
  H: Tensor<'f32'>;
  L: Tensor<'f32'>;
  r: number;
  scale: number;
  transposed: boolean;
  groups?: number;
  stride?: number;
}

type DecodedType = Exclude<WeightType, 'f32'>;

/**
 * Output covered by one workgroup of 8×8 invocations: forward kernels compute 8 tokens × 8 outputs each,
 * input-gradient kernels 16 tokens × 8 inputs (more tokens share each decoded weight there).
 */
const FORWARD_TILE = { cols: 64, rows: 64 };
const BACKWARD_TILE = { cols: 64, rows: 128 };

const FORWARD: Record<DecodedType, string> = {
  f16: withLib(f16Src, linearLib, swigluLib),
  q8_0: withLib(q8Src, linearLib, swigluLib),
  q4_0: withLib(q4Src, linearLib, swigluLib),
};
const BACKWARD_INPUT: Record<DecodedType, string> = {
  f16: withLib(dxF16Src, linearLib, swigluLib),
  q8_0: withLib(dxQ8Src, linearLib, swigluLib),
  q4_0: withLib(dxQ4Src, linearLib, swigluLib),
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
  if (opts.lowRank) checkLowRank(opts.lowRank, T, w.rows);
  if (opts.gated) {
    checkSize('gate', opts.gated.gate, T * w.rows);
    checkSize('gated output', opts.gated.out, T * w.rows);
  }
  if (w.type === 'f32') {
    matmul(ctx, x, f32View(w), T, w.rows, w.cols, { ...plain(opts), transB: true }, y);
    if (opts.lowRank) addLowRank(ctx, opts.lowRank, T, w.rows, y);
    if (opts.gated) swiglu(ctx, opts.gated.gate, y, opts.gated.out);
    return y;
  }
  const gemv = gemvKernel(ctx, w, T);
  if (gemv) {
    dispatch(ctx, gemv.code, x, w, y, gemv.groups, T, opts, w.rows, gemv.constants);
    return y;
  }
  // Output [T, rows]: workgroups tile rows of W along x and tokens along y.
  const groups: [number, number] = [Math.ceil(w.rows / FORWARD_TILE.cols), Math.ceil(T / FORWARD_TILE.rows)];
  dispatch(ctx, FORWARD[w.type], x, w, y, groups, T, opts, w.rows);
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
  if (opts.lowRank) checkLowRank(opts.lowRank, T, w.cols);
  if (opts.gated) throw new Error('linear: the input gradient has no gated output');
  if (w.type === 'f32') {
    matmul(ctx, dy, f32View(w), T, w.cols, w.rows, plain(opts), dx);
    return opts.lowRank ? addLowRank(ctx, opts.lowRank, T, w.cols, dx) : dx;
  }
  // Output [T, cols]: workgroups tile columns of W along x and tokens along y.
  const groups: [number, number] = [Math.ceil(w.cols / BACKWARD_TILE.cols), Math.ceil(T / BACKWARD_TILE.rows)];
  dispatch(ctx, BACKWARD_INPUT[w.type], dy, w, dx, groups, T, opts, w.cols);
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
  cols: number,
  /** The GEMV kernel's own constants; the blocked kernels' when omitted. */
  kernelConstants?: Record<string, number>,
): void {
  const { lowRank: lr, gated } = opts;
  const constants: Record<string, boolean | number> = {
    ...kernelConstants,
    ACCUMULATE: !!opts.accumulate,
    LOW_RANK: !!lr,
    GATED: !!gated,
  };
  // f16 rows of odd length start mid-word every other row; the kernel funnels words only when it must.
  if (w.type === 'f16' && !kernelConstants) constants.ODD_K = w.cols % 2 === 1;
  const params = new ArrayBuffer(48);
  const words = new Uint32Array(params);
  words.set([T, w.rows, w.cols, 0, rowBytes(w.type, w.cols)]);
  new Float32Array(params)[3] = opts.alpha ?? 1;
  if (lr) {
    const G = lr.groups ?? 1;
    const [colStride, kStride] = lr.transposed ? [1, cols] : [lr.r, 1];
    words.set([lr.r, T / G, G > 1 ? (lr.stride ?? 0) : 0, colStride, kStride], 5);
    new Float32Array(params)[10] = lr.scale;
  }
  // Bindings the specialised shader does not use are still in its layout: the input, bound again read-only,
  // stands in for read-only ones, a 4-byte scratch for the gated output.
  const bindings = [
    input,
    w.data,
    output,
    ctx.uniform(new Uint8Array(params)),
    lr?.H ?? input,
    lr?.L ?? input,
    gated?.gate ?? input,
    gated?.out ?? unusedOutput(ctx),
  ];
  ctx.dispatch(ctx.pipeline(code, constants), bindings, groups);
}

/**
 * Records out [T, cols] += scale·H·Lᵀ (see LowRank) as one (batched) matmul: the low-rank product for f32
 * weights, whose base product is a matmul with no epilogue.
 */
export function addLowRank(ctx: GpuContext, lr: LowRank, T: number, cols: number, out: Tensor<'f32'>): Tensor<'f32'> {
  checkLowRank(lr, T, cols);
  checkSize('out', out, T * cols);
  const G = lr.groups ?? 1;
  const rows = T / G;
  const batch = { batch: G, strideA: rows * lr.r, strideB: G > 1 ? (lr.stride ?? 0) : 0, strideC: rows * cols };
  const o = { transB: !lr.transposed, alpha: lr.scale, accumulate: true, ...batch };
  return matmul(ctx, lr.H, lr.L, rows, cols, lr.r, o, out);
}

/** One 4-byte stand-in per context for an unused writable binding: a context's lifetime, like its pipelines. */
const unused = new WeakMap<GpuContext, Tensor<'f32'>>();

function unusedOutput(ctx: GpuContext): Tensor<'f32'> {
  let t = unused.get(ctx);
  if (!t) unused.set(ctx, (t = ctx.tensor([1])));
  return t;
}

/** The options without the low-rank product and gated output. */
function plain(o: LinearOptions): LinearOptions {
  return { accumulate: o.accumulate, alpha: o.alpha };
}

function checkLowRank(lr: LowRank, T: number, cols: number): void {
  const G = lr.groups ?? 1;
  if (!Number.isInteger(lr.r) || lr.r < 1)
    throw new Error(`linear: low-rank r must be a positive integer, got ${lr.r}`);
  if (!Number.isInteger(G) || G < 1 || T % G !== 0)
    throw new Error(`linear: ${T} rows do not split into ${G} equal low-rank groups`);
  checkSize('low-rank H', lr.H, T * lr.r);
  checkSize('low-rank L', lr.L, (G > 1 ? (G - 1) * (lr.stride ?? 0) : 0) + cols * lr.r);
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
