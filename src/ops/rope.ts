// Rotary position embedding on q [T, nHeads·headDim] and k [T, nKvHeads·headDim] together (one dispatch), in
// place: forward rotates each pair by θ = pos·freq_j, backward by −θ (the rotation's transpose). In place
// because nothing downstream needs the unrotated values: attention saves the rotated q/k, and RoPE's
// backward needs only the positions.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import ropeSrc from '../../shaders/rope.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const PARAMS = uniformStruct(ropeSrc, 'Params');

const WG = 64;

/** 'half': HF rotate-half, pairs (j, j + d/2). 'adjacent': llama.cpp GGUF and llama2.c, pairs (2j, 2j + 1). */
export type RopePairing = 'half' | 'adjacent';

export interface RopeOptions {
  T: number;
  /** q's heads and k's (GQA: fewer); both tensors rotate in one dispatch. */
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  /** Base of inv_freq_j = theta^(−2j/headDim) (rope_theta / llama.rope.freq_base). */
  theta: number;
  pairing: RopePairing;
  /** [headDim/2] divisors of each frequency (Llama-3 rope_freqs.weight), as llama.cpp applies them. */
  freqFactors?: Tensor<'f32'>;
}

/** Rotates q [T, nHeads·headDim] and k [T, nKvHeads·headDim] in place by the angles of positions pos [T]. */
export function rope(ctx: GpuContext, q: Tensor<'f32'>, k: Tensor<'f32'>, pos: Tensor<'u32'>, opts: RopeOptions): void {
  rotate(ctx, q, k, pos, opts, false);
}

/** Backward of rope, in place on the gradients dq, dk: each rotated by −θ. */
export function ropeBackward(
  ctx: GpuContext,
  dq: Tensor<'f32'>,
  dk: Tensor<'f32'>,
  pos: Tensor<'u32'>,
  opts: RopeOptions,
): void {
  rotate(ctx, dq, dk, pos, opts, true);
}

/** inv_freq_j = theta^(−2j/headDim) computed in float64 and rounded once to f32. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: headDim / 2 }, (_, j) => theta ** ((-2 * j) / headDim));
}

function rotate(
  ctx: GpuContext,
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  pos: Tensor<'u32'>,
  o: RopeOptions,
  inverse: boolean,
): void {
  const { T, nHeads, nKvHeads, headDim } = o;
  if (headDim % 2) throw new Error(`rope: headDim must be even, got ${headDim}`);
  if (q.numel < T * nHeads * headDim) throw new Error(`rope: q has ${q.numel} elements, needs ${T * nHeads * headDim}`);
  if (k.numel < T * nKvHeads * headDim)
    throw new Error(`rope: k has ${k.numel} elements, needs ${T * nKvHeads * headDim}`);
  if (q.buffer === k.buffer) throw new Error('rope: q and k must be separate tensors');
  if (pos.numel < T) throw new Error(`rope: pos has ${pos.numel} elements, needs ${T}`);
  if (o.freqFactors && o.freqFactors.numel < headDim / 2) {
    throw new Error(`rope: freqFactors has ${o.freqFactors.numel} elements, needs ${headDim / 2}`);
  }
  const pairs = T * (nHeads + nKvHeads) * (headDim / 2);
  if (pairs === 0) return;
  const invFreq = invFreqTable(ctx, headDim, o.theta);
  const pipeline = ctx.pipeline(ropeSrc, {
    ADJACENT: o.pairing === 'adjacent',
    INVERSE: inverse,
    HAS_FACTORS: !!o.freqFactors,
  });
  const params = PARAMS.pack({ T, q_heads: nHeads, k_heads: nKvHeads, head_dim: headDim });
  // Without factors the binding is unused by the specialised shader, but the layout still has it.
  const bindings = [q, k, pos, invFreq, o.freqFactors ?? invFreq, ctx.uniform(params)];
  ctx.dispatch(pipeline, bindings, grid1d(ctx, pairs, WG));
}

/** One inv_freq table per context and (headDim, theta): a model uses one or two, for its lifetime. */
const tables = new WeakMap<GpuContext, Map<string, Tensor<'f32'>>>();

function invFreqTable(ctx: GpuContext, headDim: number, theta: number): Tensor<'f32'> {
  let perCtx = tables.get(ctx);
  if (!perCtx) tables.set(ctx, (perCtx = new Map()));
  const key = `${headDim}/${theta}`;
  let t = perCtx.get(key);
  if (!t) perCtx.set(key, (t = ctx.upload(ropeInvFreq(headDim, theta), [headDim / 2])));
  return t;
}
