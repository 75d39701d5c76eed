// linear: products with a frozen base weight W (out×in, f32 | f16 | bf16 | q8_0 | q4_0 in GGML's layout).
// Forward y = alpha·x·Wᵀ and the input gradient dx = alpha·dy·W; never dW (base weights are frozen).
// f16 and quantized weights are decoded in registers as they load (no f32 copy of W is ever made); f32
// weights go through matmul on a zero-copy f32 view of the same buffer.
// An adapter's low-rank product (`lowRank`: LoRA's s·h·Bᵀ forward, dh·A for the input gradient) is added in
// the same kernel's epilogue (shaders/lib/linear_common.wgsl), so the branch costs no dispatch of its own;
// with f32 weights it is one more matmul into the output (`addLowRank`). Likewise the up projection writes
// SwiGLU's h = silu(g) ⊙ u as it stores u (`gated`; f32 weights: the swiglu kernel).
// Two variants per direction (families 'linear' and 'linear_dx' in ctx.kernels, measured by the tuner):
// 'blocked', one kernel per weight type decoding in registers without workgroup memory (CPU adapters), and
// 'tiled', one body for all three types that decodes each 64×16 slice of W into workgroup memory once per
// 64 tokens (GPUs); the type's decoding is an include (shaders/lib/decode_*.wgsl).
// With a few tokens (decoding) the forward may run the GEMV kernel instead (src/ops/linearGemv.ts), through
// the same parameters, bindings and epilogue.

import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import type { KernelProbe } from './tuning';
import { probeValues } from './probeInputs';
import { quantize } from '../io/quant';
import { matmul } from './matmul';
import { releaseWeight, rowBytes, uploadWeight, type Weight, type WeightType } from './weight';
import { withLib } from '../gpu/wgsl';
import { uniformStruct } from '../gpu/uniforms';
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
import dxQuantBody from '../../shaders/lib/linear_dx_quant.wgsl?raw';
import tiledSrc from '../../shaders/linear_tiled.wgsl?raw';
import decodeF16 from '../../shaders/lib/decode_f16.wgsl?raw';
import decodeQ8 from '../../shaders/lib/decode_q8_0.wgsl?raw';
import decodeQ4 from '../../shaders/lib/decode_q4_0.wgsl?raw';

export type LinearVariant = 'blocked' | 'tiled';

/** The candidates of both families, the reference (the blocked kernels) first. */
export const LINEAR_VARIANTS: readonly LinearVariant[] = ['blocked', 'tiled'];

export interface LinearOptions {
  /** out += result instead of out = result (the model sums paths into one activation). */
  accumulate?: boolean;
  alpha?: number;
  /** out also gets this low-rank product (an adapter's branch), in the same kernel. */
  lowRank?: LowRank;
  /** Forward only: also writes gated.out = silu(gated.gate) ⊙ out (SwiGLU after the up projection). */
  gated?: { gate: Tensor<'f32'>; out: Tensor<'f32'> };
  /** The kernel variant, over ctx.kernels' choice for the family ('linear' forward, 'linear_dx'). */
  variant?: LinearVariant;
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

/** The types the linear kernels decode themselves (bf16 runs the f16 kernels with BF16 set). */
type DecodedType = Exclude<WeightType, 'f32' | 'bf16'>;

/** The kernel type that decodes w, and the override constant bf16 adds. */
function decodedType(w: Weight): { type: DecodedType; constants: Record<string, boolean> } {
  if (w.type === 'bf16') return { type: 'f16', constants: { BF16: true } };
  return { type: w.type as DecodedType, constants: {} };
}

/**
 * Output covered by one workgroup of 8×8 invocations: forward kernels compute 8 tokens × 8 outputs each,
 * input-gradient kernels 16 tokens × 8 inputs (more tokens share each decoded weight there); the tiled kernel
 * 8 tokens × 8 columns either way.
 */
const FORWARD_TILE = { cols: 64, rows: 64 };
const BACKWARD_TILE = { cols: 64, rows: 128 };
const TILED_TILE = { cols: 64, rows: 64 };

const TILED: Record<DecodedType, string> = {
  f16: withLib(tiledSrc, decodeF16, linearLib, swigluLib),
  q8_0: withLib(tiledSrc, decodeQ8, linearLib, swigluLib),
  q4_0: withLib(tiledSrc, decodeQ4, linearLib, swigluLib),
};

/** The variant a product runs: the call's, else ctx.kernels' for the family, else blocked on CPU adapters. */
export function linearVariant(ctx: GpuContext, family: 'linear' | 'linear_dx', forced?: LinearVariant): LinearVariant {
  return forced ?? ctx.kernels.variant<LinearVariant>(family, ctx.info.isSoftware ? 'blocked' : 'tiled');
}

const FORWARD: Record<DecodedType, string> = {
  f16: withLib(f16Src, linearLib, swigluLib),
  q8_0: withLib(q8Src, linearLib, swigluLib),
  q4_0: withLib(q4Src, linearLib, swigluLib),
};
const BACKWARD_INPUT: Record<DecodedType, string> = {
  f16: withLib(dxF16Src, linearLib, swigluLib),
  // The two quantized kernels are one body; each type's file (first, so it names the pipeline) adds its decoding.
  q8_0: withLib(dxQ8Src, dxQuantBody, linearLib, swigluLib),
  q4_0: withLib(dxQ4Src, dxQuantBody, linearLib, swigluLib),
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
    dispatch(ctx, gemv, x, w, y, gemv.groups, T, opts, w.rows);
    return y;
  }
  // Output [T, rows]: workgroups tile rows of W along x and tokens along y.
  const tiled = linearVariant(ctx, 'linear', opts.variant) === 'tiled';
  const tile = tiled ? TILED_TILE : FORWARD_TILE;
  const groups: [number, number] = [Math.ceil(w.rows / tile.cols), Math.ceil(T / tile.rows)];
  const kernel = tiled ? tiledKernel(w, false) : blocked(FORWARD, w);
  dispatch(ctx, kernel, x, w, y, groups, T, opts, w.rows);
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
  const tiled = linearVariant(ctx, 'linear_dx', opts.variant) === 'tiled';
  const tile = tiled ? TILED_TILE : BACKWARD_TILE;
  const groups: [number, number] = [Math.ceil(w.cols / tile.cols), Math.ceil(T / tile.rows)];
  const kernel = tiled ? tiledKernel(w, true) : blocked(BACKWARD_INPUT, w);
  dispatch(ctx, kernel, dy, w, dx, groups, T, opts, w.cols);
  return dx;
}

/** The tiled kernel for w's type and direction. */
function tiledKernel(w: Weight, dx: boolean): Kernel {
  const { type, constants } = decodedType(w);
  return { code: TILED[type], constants: { ...constants, DX: dx } };
}

/** A kernel's source and the override constants it has beyond the shared ones. */
interface Kernel {
  code: string;
  constants?: Record<string, boolean | number>;
}

/**
 * The blocked kernel for w's type. f16 rows of odd length start mid-word every other row: that kernel funnels
 * words only when it must (ODD_K).
 */
function blocked(kernels: Record<DecodedType, string>, w: Weight): Kernel {
  const { type, constants } = decodedType(w);
  if (type === 'f16') return { code: kernels.f16, constants: { ...constants, ODD_K: w.cols % 2 === 1 } };
  return { code: kernels[type], constants };
}

function dispatch(
  ctx: GpuContext,
  kernel: Kernel,
  input: Tensor<'f32'>,
  w: Weight,
  output: Tensor<'f32'>,
  groups: [number, number],
  T: number,
  opts: LinearOptions,
  cols: number,
): void {
  const { lowRank: lr, gated } = opts;
  const constants: Record<string, boolean | number> = {
    ACCUMULATE: !!opts.accumulate,
    LOW_RANK: !!lr,
    GATED: !!gated,
    ...kernel.constants,
  };
  const params = LINEAR_PARAMS.pack({
    ...{ T, N: w.rows, K: w.cols, alpha: opts.alpha ?? 1, row_bytes: rowBytes(w.type, w.cols) },
    ...(lr ? lowRankParams(lr, T, cols) : NO_LOW_RANK),
  });
  // Bindings the specialised shader does not use are still in its layout: the input, bound again read-only,
  // stands in for read-only ones, a 4-byte scratch for the gated output.
  const bindings = [
    input,
    w.data,
    output,
    ctx.uniform(params),
    lr?.H ?? input,
    lr?.L ?? input,
    gated?.gate ?? input,
    gated?.out ?? unusedOutput(ctx),
  ];
  ctx.dispatch(ctx.pipeline(kernel.code, constants), bindings, groups);
}

/** linear_common's Params: every linear kernel (blocked, tiled, GEMV) declares its parameters there. */
const LINEAR_PARAMS = uniformStruct(linearLib, 'Params');
const NO_LOW_RANK = { lr_rank: 0, lr_group_rows: 0, lr_group_stride: 0, lr_col_stride: 0, lr_k_stride: 0, lr_scale: 0 };

/** The epilogue's low-rank fields: L's copy stride per row group, and its layout (B [cols, r] or A [r, cols]). */
function lowRankParams(lr: LowRank, T: number, cols: number) {
  const G = lr.groups ?? 1;
  const [colStride, kStride] = lr.transposed ? [1, cols] : [lr.r, 1];
  return {
    ...{ lr_rank: lr.r, lr_group_rows: T / G, lr_group_stride: G > 1 ? (lr.stride ?? 0) : 0 },
    ...{ lr_col_stride: colStride, lr_k_stride: kStride, lr_scale: lr.scale },
  };
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

/** The options without the low-rank product, gated output and variant. */
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

/**
 * The tuner's workloads for 'linear' and 'linear_dx': SmolLM2-135M's up projection (576 → 1536) in Q4_0 over
 * 512 tokens; on CPU adapters 64 tokens, 256 → 128 (the ranking holds there, the time does not).
 */
function probe(family: 'linear' | 'linear_dx'): KernelProbe {
  const forward = family === 'linear';
  return {
    family,
    variants: () => LINEAR_VARIANTS,
    sources: [...Object.values(forward ? FORWARD : BACKWARD_INPUT), ...Object.values(TILED)],
    setup(ctx) {
      const [T, inDim, outDim] = ctx.info.isSoftware ? [64, 256, 128] : [512, 576, 1536];
      const w = uploadWeight(ctx, 'q4_0', outDim, inDim, quantize('q4_0', probeValues(outDim * inDim, 3)));
      const [inLen, outLen] = forward ? [inDim, outDim] : [outDim, inDim];
      const x = ctx.upload(probeValues(T * inLen, 4), [T, inLen]);
      const y = ctx.tensor([T, outLen]);
      return {
        run: () => (forward ? linear(ctx, x, w, T, {}, y) : linearBackwardInput(ctx, x, w, T, {}, y)),
        release: () => {
          [x, y].forEach((t) => t.release());
          releaseWeight(w);
        },
      };
    },
  };
}

export const linearProbe = probe('linear');
export const linearDxProbe = probe('linear_dx');
