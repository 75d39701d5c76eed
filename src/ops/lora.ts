// LoRA's low-rank branch on a frozen linear (the base product W·x is computed elsewhere):
//   forward  y += s·B·(A·drop(x)),  s = alpha / r,  saving h = drop(x)·Aᵀ for the backward;
//   backward dB (+)= s·dyᵀ·h, dh = s·dy·B, dA (+)= dhᵀ·drop(x), dx += drop'(dh·A).
// The last product of each direction (y += s·h·Bᵀ, dx += dh·A) is returned as a LowRank for the base linear
// to add in its epilogue (src/ops/linear.ts): no dispatch of its own. With dropout the input gradient's mask
// applies to dh·A before it joins dx, so that one stays a matmul (`BranchInputGradient.finish`).
// Shapes (PEFT, row-major): x [T, in], A [r, in], B [out, r], y and dy [T, out], h [T, r].
// The weight gradients contract over the long token axis into small outputs, so they use a split-K kernel
// (tokenProduct) rather than matmul; everything else is matmul. Dropout's mask is a hash of
// (seed, token, feature), recomputed in the backward instead of stored.
// Row groups (RowGroups): MeTA-LoRA runs its K tasks as one batch of K equal, contiguous row groups. Each
// group computes as if it ran alone — its own dropout seed and row numbering, its own copy of A and B
// (batched matmuls whose batch index is the group, operand strides between the copies), and its own
// gradient copy or, with gradient stride 0, one gradient summed over the groups.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { type LoraDims, type LoraOptions, dropoutThreshold } from './contracts';
import { grid1d } from './grid';
import type { LowRank } from './linear';
import { matmul } from './matmul';
import { SplitKReduce } from './splitK';
import dropoutSrc from '../../shaders/lora_dropout.wgsl?raw';
import tokenProductSrc from '../../shaders/lora_token_product.wgsl?raw';
import tokenProductVec4Src from '../../shaders/lora_token_product_vec4.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const TOKEN_PRODUCT_PARAMS = uniformStruct(tokenProductSrc, 'Params'); // the vec4 kernel's is the same
const DROPOUT_PARAMS = uniformStruct(dropoutSrc, 'Params');

export type { LoraDims, LoraOptions };

/** The batch's rows as G = seeds.length equal contiguous groups, each run as if alone. */
export interface RowGroups {
  /** Each group's dropout seed. */
  seeds: readonly number[];
  /** Each group's own sequence length: its row (b, i) is hashed as b·seqLens[g] + i, as when it ran alone. */
  seqLens: readonly number[];
  /** The batch's sequence length (all groups are padded to it). */
  seq: number;
}

/** Elements between the groups' copies of A, B, dA and dB; 0 shares one copy (for dA and dB: sums into it). */
export interface GroupStrides {
  A: number;
  B: number;
  dA: number;
  dB: number;
}

/** LoraOptions for a batch of row groups (o.seed is then unused: each group has its own). */
export interface GroupedLoraOptions extends LoraOptions {
  groups?: RowGroups;
  strides?: GroupStrides;
  /** Queue the gradients' split-K reduces here (dA, dB hold their values after its flush). */
  reduce?: SplitKReduce;
}

const SHARED: GroupStrides = { A: 0, B: 0, dA: 0, dB: 0 };

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
  /** T is `groups` equal contiguous row groups, each with its own product C[g] at element g·outStride. */
  groups?: number;
  outStride?: number;
  /**
   * Queue the split-K reduce here instead of recording it at once (one dispatch reduces many products); C
   * holds the product only after `reduce.flush()`.
   */
  reduce?: SplitKReduce;
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
 * (deterministic, no atomics), recorded at once or queued on `o.reduce`. With one chunk the product is
 * written straight into C.
 */
export function tokenProduct(
  ctx: GpuContext,
  X: Tensor<'f32'>,
  Y: Tensor<'f32'>,
  M: number,
  N: number,
  T: number,
  o: TokenProductOptions,
  out: Tensor<'f32'>,
): Tensor<'f32'> {
  const G = o.groups ?? 1;
  const outStride = G === 1 ? M * N : (o.outStride ?? M * N);
  if (!Number.isInteger(G) || G < 1 || T % G !== 0)
    throw new Error(`tokenProduct: ${T} tokens do not split into ${G} equal groups`);
  if (G > 1 && outStride < M * N)
    throw new Error(`tokenProduct: output stride ${outStride} overlaps ${M}×${N} products`);
  check('tokenProduct X', X, T * M);
  check('tokenProduct Y', Y, T * N);
  check('tokenProduct C', out, (G - 1) * outStride + M * N);
  if (M === 0 || N === 0) return out;
  const Tg = T / G;
  const blocksN = Math.ceil(N / BLOCK_N);
  const blocks = Math.ceil(M / BLOCK_M) * blocksN;
  const chunk = Math.max(1, o.tokensPerChunk ?? tokensPerChunk(ctx, Tg, blocks * G));
  const chunks = Math.max(1, Math.ceil(Tg / chunk));
  const direct = chunks === 1;
  const alpha = o.alpha ?? 1;
  const accumulate = !!o.accumulate;
  // Without a caller's reducer the reduce is recorded right after the product (one job, flushed at once).
  const reduce = direct ? null : (o.reduce ?? new SplitKReduce(ctx));
  const job = { parts: chunks, count: G * M * N, groupLen: M * N, outStride, alpha, accumulate };
  const target = reduce ? reduce.partials(job, out) : out;

  const code = M % 4 === 0 && N % 4 === 0 ? tokenProductVec4Src : tokenProductSrc;
  const params = TOKEN_PRODUCT_PARAMS.pack({
    ...{ M, N, T: Tg, chunk, blocks_n: blocksN, blocks, alpha: direct ? alpha : 1, groups: G },
    // With one chunk each group writes its own output copy; else partials [chunks, G, M·N].
    ...(direct ? { group_stride: outStride, chunk_stride: 0 } : { group_stride: M * N, chunk_stride: G * M * N }),
  });
  ctx.dispatch(
    ctx.pipeline(code, { ACCUMULATE: direct && accumulate }),
    [X, Y, target, ctx.uniform(params)],
    [...grid1d(ctx, blocks, WG), chunks * G],
  );
  if (reduce && reduce !== o.reduce) reduce.release();
  return out;
}

/**
 * Records out [T, cols] (=|+=) src ⊙ mask / (1 − p), the mask hashed from (seed, row, column). The same
 * call with the same seed reproduces the same mask, which is how the backward pass re-applies it.
 */
export function loraDropout(
  ctx: GpuContext,
  src: Tensor<'f32'>,
  T: number,
  cols: number,
  o: GroupedLoraOptions,
  accumulate: boolean,
  out: Tensor<'f32'>,
): Tensor<'f32'> {
  const p = o.dropout ?? 0;
  check('loraDropout src', src, T * cols);
  check('loraDropout out', out, T * cols);
  const groups = o.groups ?? { seeds: [o.seed ?? 0], seqLens: [T], seq: T };
  const G = groups.seeds.length;
  if (G < 1 || T % G !== 0 || groups.seqLens.length !== G)
    throw new Error(`loraDropout: ${T} rows do not split into ${G} equal groups`);
  const rows = T / G;
  // The group table fills the uniform slot at 28 groups; more take one dispatch per 28.
  for (let first = 0; first < G; first += DROPOUT_GROUPS) {
    const n = Math.min(DROPOUT_GROUPS, G - first);
    const seeds: number[] = [];
    for (let g = first; g < first + n; g++) seeds.push(groups.seeds[g] >>> 0, groups.seqLens[g]);
    const params = DROPOUT_PARAMS.pack({
      ...{ count: n * rows * cols, cols, threshold: dropoutThreshold(p), scale: 1 / (1 - p) },
      ...{ group_rows: rows, seq: Math.max(1, groups.seq), first_group: first, seeds },
    });
    ctx.dispatch(
      ctx.pipeline(dropoutSrc, { ACCUMULATE: accumulate }),
      [src, out, ctx.uniform(params)],
      grid1d(ctx, n * rows * cols, WG),
    );
  }
  return out;
}

/** Row groups one lora_dropout dispatch covers (its uniform's table). */
const DROPOUT_GROUPS = 28;

/** drop(x) in a fresh tensor when dropout is on (the caller releases it), else x itself. */
export function droppedInput(ctx: GpuContext, x: Tensor<'f32'>, d: LoraDims, o: GroupedLoraOptions): Tensor<'f32'> {
  if (!(o.dropout ?? 0)) return x;
  return loraDropout(ctx, x, d.T, d.in, o, false, ctx.tensor([d.T, d.in]));
}

/**
 * Forward: h = drop(x)·Aᵀ (returned, kept for the backward; the caller releases it) and y += s·h·Bᵀ as the
 * LowRank the base linear adds into y.
 */
export function loraForward(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  d: LoraDims,
  o: GroupedLoraOptions,
): { h: Tensor<'f32'>; lowRank: LowRank } {
  const g = grouping(d, o);
  checkShapes(x, A, d, g);
  check('loraForward B', B, (g.G - 1) * g.strides.B + d.out * d.r);
  const xd = droppedInput(ctx, x, d, o);
  const h = matmul(
    ctx,
    xd,
    A,
    g.rows,
    d.r,
    d.in,
    { transB: true, ...g.batch(d.in, g.strides.A, d.r) },
    ctx.tensor([d.T, d.r]),
  );
  if (xd !== x) xd.release();
  return { h, lowRank: { H: h, L: B, r: d.r, scale: o.scale, transposed: false, ...lowRankGroups(g.G, g.strides.B) } };
}

/**
 * The input gradient's low-rank part, dx += drop'(dh·A): `lowRank` for the base linear's epilogue when there
 * is no dropout; `finish(dx)`, called once after that linear, adds it under the mask otherwise, and releases dh.
 */
export interface BranchInputGradient {
  lowRank?: LowRank;
  finish(dx: Tensor<'f32'>): void;
}

function lowRankGroups(G: number, stride: number): { groups?: number; stride?: number } {
  return G > 1 ? { groups: G, stride } : {};
}

/** How a call splits into row groups: G, rows per group, strides, and matmul's batch options. */
function grouping(d: LoraDims, o: GroupedLoraOptions) {
  const G = o.groups?.seeds.length ?? 1;
  if (!Number.isInteger(G) || G < 1 || d.T % G !== 0)
    throw new Error(`LoRA: ${d.T} tokens do not split into ${G} equal groups`);
  const rows = d.T / G;
  const strides = o.strides ?? SHARED;
  // Row-group g's rows of the left operand and the output, its copy of the right operand.
  const batch = (leftCols: number, strideB: number, outCols: number) => ({
    batch: G,
    strideA: rows * leftCols,
    strideB,
    strideC: rows * outCols,
  });
  return { G, rows, strides, batch };
}

/**
 * Backward from dy [T, out] with h from the forward: dB (+)= s·dyᵀ·h, dA (+)= dhᵀ·drop(x) (+= when
 * grads.accumulate), and the input gradient's part dx += drop'(dh·A) to add (BranchInputGradient).
 * Dropout options (p, seed) must be those of the forward.
 */
export function loraBackward(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  h: Tensor<'f32'>,
  dy: Tensor<'f32'>,
  A: Tensor<'f32'>,
  B: Tensor<'f32'>,
  d: LoraDims,
  o: GroupedLoraOptions,
  grads: LoraGrads,
): BranchInputGradient {
  const g = grouping(d, o);
  checkShapes(x, A, d, g);
  check('loraBackward B', B, (g.G - 1) * g.strides.B + d.out * d.r);
  check('loraBackward h', h, d.T * d.r);
  check('loraBackward dy', dy, d.T * d.out);
  tokenProduct(
    ctx,
    dy,
    h,
    d.out,
    d.r,
    d.T,
    { alpha: o.scale, accumulate: grads.accumulate, reduce: o.reduce, ...perGroup(g.G, g.strides.dB) },
    grads.dB,
  );
  const dh = matmul(
    ctx,
    dy,
    B,
    g.rows,
    d.r,
    d.out,
    { alpha: o.scale, ...g.batch(d.out, g.strides.B, d.r) },
    ctx.tensor([d.T, d.r]),
  );
  return loraInputBackward(ctx, x, dh, A, d, o, grads.dA, !!grads.accumulate);
}

/** Token-product options for a gradient with one copy per group (stride > 0) or summed over groups (0). */
function perGroup(G: number, stride: number): { groups?: number; outStride?: number } {
  return stride > 0 ? { groups: G, outStride: stride } : {};
}

/**
 * The tail shared with MTL-LoRA, from dh = ∂L/∂h [T, r] (which the result's `finish` releases):
 * dA (=|+=) dhᵀ·drop(x), and dx += drop'(dh·A) to add.
 */
export function loraInputBackward(
  ctx: GpuContext,
  x: Tensor<'f32'>,
  dh: Tensor<'f32'>,
  A: Tensor<'f32'>,
  d: LoraDims,
  o: GroupedLoraOptions,
  dA: Tensor<'f32'>,
  accumulate: boolean,
): BranchInputGradient {
  const g = grouping(d, o);
  checkShapes(x, A, d, g);
  check('LoRA dh', dh, d.T * d.r);
  const xd = droppedInput(ctx, x, d, o);
  tokenProduct(ctx, dh, xd, d.r, d.in, d.T, { accumulate, reduce: o.reduce, ...perGroup(g.G, g.strides.dA) }, dA);
  if (xd !== x) xd.release();
  const lowRank: LowRank = { H: dh, L: A, r: d.r, scale: 1, transposed: true, ...lowRankGroups(g.G, g.strides.A) };
  if (!(o.dropout ?? 0)) return { lowRank, finish: () => dh.release() };
  return {
    finish(dx) {
      // The mask applies to dh·A before it joins dx, so the product needs its own scratch.
      check('LoRA dx', dx, d.T * d.in);
      const batch = g.batch(d.r, g.strides.A, d.in);
      const dxd = matmul(ctx, dh, A, g.rows, d.in, d.r, batch, ctx.tensor([d.T, d.in]));
      loraDropout(ctx, dxd, d.T, d.in, o, true, dx);
      [dxd, dh].forEach((t) => t.release());
    },
  };
}

function checkShapes(x: Tensor, A: Tensor, d: LoraDims, g: { G: number; strides: GroupStrides }): void {
  check('LoRA x', x, d.T * d.in);
  check('LoRA A', A, (g.G - 1) * g.strides.A + d.r * d.in);
}

function check(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`${name} has ${t.numel} elements, needs ${needed}`);
}
