// LoRA's low-rank branch on a frozen linear (the base product W·x is computed elsewhere):
//   forward  y += s·B·(A·drop(x)),  s = alpha / r,  saving h = drop(x)·Aᵀ for the backward;
//   backward dB (+)= s·dyᵀ·h, dh = s·dy·B, dA (+)= dhᵀ·drop(x), dx += drop'(dh·A).
// Shapes (PEFT, row-major): x [T, in], A [r, in], B [out, r], y and dy [T, out], h [T, r].
// The weight gradients contract over the long token axis into small outputs, so they use a split-K kernel
// (tokenProduct) rather than matmul; everything else is matmul. Dropout's mask is a hash of
// (seed, token, feature), recomputed in the backward instead of stored.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { type LoraDims, type LoraOptions, dropoutThreshold } from './contracts';
import { grid1d } from './grid';
import { matmul } from './matmul';
import dropoutSrc from '../../shaders/lora_dropout.wgsl?raw';
import tokenProductSrc from '../../shaders/lora_token_product.wgsl?raw';
import tokenProductVec4Src from '../../shaders/lora_token_product_vec4.wgsl?raw';
import reduceSrc from '../../shaders/splitk_reduce.wgsl?raw';

export type { LoraDims, LoraOptions };

export interface LoraGrads {
  dA: Tensor<'f32'>;
  dB: Tensor<'f32'>;
  /** Add to dA and dB (summing micro-batches) instead of overwriting them. */
  accumulate?: boolean;
}

export interface TokenProductOptions {
  alpha?: number;
  /** C += alpha·XᵀY instead of C = alpha·XᵀY. */
  accumulate?: boolean;
  /** Tokens per split-K chunk; chosen per adapter when omitted (tests force both paths). */
  tokensPerChunk?: number;
}

/** Output block of one invocation in lora_token_product (rows × columns of C). */
const BLOCK_M = 4;
const BLOCK_N = 8;
const WG = 64;

/**
 * Tokens per chunk. On SwiftShader (2 cores, T = 256 and 1024, dA [8, 576] and dB [576, 8]) 128 was the best
 * of 16…T: dA 1.6 ms vs 2.5 ms and dB 2.0 ms vs 7.7 ms for matmul with transA at T = 256 (matmul's 2-D
 * tiles leave most invocations idle when one side of the output is r wide). On a real GPU the aim is enough
 * invocations to fill it (~32k) while each still loops over ≥ 32 tokens.
 */
function tokensPerChunk(ctx: GpuContext, T: number, blocks: number): number {
  if (ctx.info.isSoftware) return 128;
  return Math.max(32, Math.ceil((T * blocks) / 32768));
}

/**
 * Records C [M, N] (=|+=) alpha·Xᵀ·Y with X [T, M] and Y [T, N] row-major: a weight gradient summed over
 * tokens. Split-K: partial products per chunk of tokens into a scratch tensor, then a fixed-order reduction
 * (deterministic, no atomics). With one chunk the product is written straight into C.
 */
export function tokenProduct(ctx: GpuContext, X: Tensor<'f32'>, Y: Tensor<'f32'>, M: number, N: number, T: number,
  o: TokenProductOptions, out: Tensor<'f32'>): Tensor<'f32'> {
  check('tokenProduct X', X, T * M);
  check('tokenProduct Y', Y, T * N);
  check('tokenProduct C', out, M * N);
  if (M === 0 || N === 0) return out;
  const blocksN = Math.ceil(N / BLOCK_N);
  const blocks = Math.ceil(M / BLOCK_M) * blocksN;
  const chunk = Math.max(1, o.tokensPerChunk ?? tokensPerChunk(ctx, T, blocks));
  const chunks = Math.max(1, Math.ceil(T / chunk));
  const direct = chunks === 1;
  const target = direct ? out : ctx.tensor([chunks, M, N]);
  const alpha = o.alpha ?? 1;

  const code = M % 4 === 0 && N % 4 === 0 ? tokenProductVec4Src : tokenProductSrc;
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([M, N, T, chunk, blocksN, blocks, 0, 0]);
  new Float32Array(params)[6] = direct ? alpha : 1;
  ctx.dispatch(ctx.pipeline(code, { ACCUMULATE: direct && !!o.accumulate }),
    [X, Y, target, ctx.uniform(new Uint8Array(params))], [...grid1d(ctx, blocks, WG), chunks]);
  if (!direct) {
    splitKReduce(ctx, target, chunks, M * N, alpha, !!o.accumulate, out);
    target.release();
  }
  return out;
}

/** out [count] (=|+=) alpha·Σ_z part[z, :]: the deterministic second pass of split-K. */
function splitKReduce(ctx: GpuContext, part: Tensor<'f32'>, parts: number, count: number, alpha: number,
  accumulate: boolean, out: Tensor<'f32'>): void {
  const params = new ArrayBuffer(16);
  new Uint32Array(params).set([count, parts, count, 0]);
  new Float32Array(params)[3] = alpha;
  ctx.dispatch(ctx.pipeline(reduceSrc, { ACCUMULATE: accumulate }),
    [part, out, ctx.uniform(new Uint8Array(params))], grid1d(ctx, count, WG));
}

/**
 * Records out [T, cols] (=|+=) src ⊙ mask / (1 − p), the mask hashed from (seed, row, column). The same
 * call with the same seed reproduces the same mask, which is how the backward pass re-applies it.
 */
export function loraDropout(ctx: GpuContext, src: Tensor<'f32'>, T: number, cols: number, o: LoraOptions,
  accumulate: boolean, out: Tensor<'f32'>): Tensor<'f32'> {
  const p = o.dropout ?? 0;
  check('loraDropout src', src, T * cols);
  check('loraDropout out', out, T * cols);
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([T * cols, cols, (o.seed ?? 0) >>> 0, dropoutThreshold(p)]);
  new Float32Array(params)[4] = 1 / (1 - p);
  ctx.dispatch(ctx.pipeline(dropoutSrc, { ACCUMULATE: accumulate }),
    [src, out, ctx.uniform(new Uint8Array(params))], grid1d(ctx, T * cols, WG));
  return out;
}

/** drop(x) in a fresh tensor when dropout is on (the caller releases it), else x itself. */
export function droppedInput(ctx: GpuContext, x: Tensor<'f32'>, d: LoraDims, o: LoraOptions): Tensor<'f32'> {
  if (!(o.dropout ?? 0)) return x;
  return loraDropout(ctx, x, d.T, d.in, o, false, ctx.tensor([d.T, d.in]));
}

/**
 * Forward: h = drop(x)·Aᵀ (returned, kept for the backward; the caller releases it) and y += s·h·Bᵀ.
 * y already holds the frozen base layer's output.
 */
export function loraForward(ctx: GpuContext, x: Tensor<'f32'>, A: Tensor<'f32'>, B: Tensor<'f32'>, d: LoraDims,
  o: LoraOptions, y: Tensor<'f32'>): { h: Tensor<'f32'> } {
  checkShapes(x, A, d);
  check('loraForward B', B, d.out * d.r);
  check('loraForward y', y, d.T * d.out);
  const xd = droppedInput(ctx, x, d, o);
  const h = matmul(ctx, xd, A, d.T, d.r, d.in, { transB: true });
  if (xd !== x) xd.release();
  matmul(ctx, h, B, d.T, d.out, d.r, { transB: true, alpha: o.scale, accumulate: true }, y);
  return { h };
}

/**
 * Backward from dy [T, out] with h from the forward: dB (+)= s·dyᵀ·h, dA (+)= dhᵀ·drop(x) (+= when
 * grads.accumulate) and, when dx is given, dx += drop'(dh·A): dx holds the base layer's Wᵀ·dy already.
 * Dropout options (p, seed) must be those of the forward.
 */
export function loraBackward(ctx: GpuContext, x: Tensor<'f32'>, h: Tensor<'f32'>, dy: Tensor<'f32'>, A: Tensor<'f32'>,
  B: Tensor<'f32'>, d: LoraDims, o: LoraOptions, grads: LoraGrads, dx?: Tensor<'f32'>): void {
  checkShapes(x, A, d);
  check('loraBackward B', B, d.out * d.r);
  check('loraBackward h', h, d.T * d.r);
  check('loraBackward dy', dy, d.T * d.out);
  tokenProduct(ctx, dy, h, d.out, d.r, d.T, { alpha: o.scale, accumulate: grads.accumulate }, grads.dB);
  const dh = matmul(ctx, dy, B, d.T, d.r, d.out, { alpha: o.scale });
  loraInputBackward(ctx, x, dh, A, d, o, grads.dA, !!grads.accumulate, dx);
  dh.release();
}

/**
 * The tail shared with MTL-LoRA, from dh = ∂L/∂h [T, r]: dA (=|+=) dhᵀ·drop(x) and dx += drop'(dh·A).
 */
export function loraInputBackward(ctx: GpuContext, x: Tensor<'f32'>, dh: Tensor<'f32'>, A: Tensor<'f32'>, d: LoraDims,
  o: LoraOptions, dA: Tensor<'f32'>, accumulate: boolean, dx?: Tensor<'f32'>): void {
  checkShapes(x, A, d);
  check('LoRA dh', dh, d.T * d.r);
  const xd = droppedInput(ctx, x, d, o);
  tokenProduct(ctx, dh, xd, d.r, d.in, d.T, { accumulate }, dA);
  if (xd !== x) xd.release();
  if (!dx) return;
  check('LoRA dx', dx, d.T * d.in);
  if (xd === x) {
    matmul(ctx, dh, A, d.T, d.in, d.r, { accumulate: true }, dx);
  } else {
    // The mask applies to dh·A before it joins dx, so the product needs its own scratch.
    const dxd = matmul(ctx, dh, A, d.T, d.in, d.r);
    loraDropout(ctx, dxd, d.T, d.in, o, true, dx);
    dxd.release();
  }
}

function checkShapes(x: Tensor, A: Tensor, d: LoraDims): void {
  check('LoRA x', x, d.T * d.in);
  check('LoRA A', A, d.r * d.in);
}

function check(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`${name} has ${t.numel} elements, needs ${needed}`);
}
