// One pre-norm LLaMA block, shared by the full-sequence forward (forward.ts), the cached one (kvCache.ts) and
// training's forward (src/train/block.ts):
// x += Wo·Attn(RoPE(Wq·n1 + bq), RoPE(Wk·n1 + bk), Wv·n1 + bv) with n1 = RMSNorm(x);
// x += Wdown·(silu(Wgate·n2) ⊙ Wup·n2) with n2 = RMSNorm(x). The residual adds are fused into the o and down
// projections (linear with accumulate), SwiGLU into the up projection (its `gated` output), q and k rotate in
// one dispatch. Only the attention itself differs between callers; an optional hook adds an adapter's branch
// to each projection (its last product in the linear's epilogue: the cached forward with a trained adapter).
// Training runs the same block (`llamaBlockKeeping`, src/train/block.ts), keeping its tensors for the backward.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { biasAdd } from '../ops/biasAdd';
import { type LinearOptions, linear } from '../ops/linear';
import { type RmsNormOutputs, rmsnorm } from '../ops/rmsnorm';
import { rope } from '../ops/rope';
import type { Weight } from '../ops/weight';
import type { AdapterBranch, TargetModule } from './adapterHook';
import type { LlamaConfig } from './config';
import type { LayerWeights, ModelWeights } from './weights';

type Gated = LinearOptions['gated'];

/** Attention over rotated q, k and v of the block's T tokens; returns o [T, H·hd] (released by the block). */
export type Attend = (q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>) => Tensor<'f32'>;

/**
 * Records the adapter's branch on x for projection `target`, or returns null where it has none; the branch's
 * last product is added by that projection's linear, with y = W·x (+ the residual for o and down), before any
 * bias or RoPE — as src/train/block.ts does, so both forwards compute the same function.
 */
export type Adapt = (target: TargetModule, x: Tensor<'f32'>) => AdapterBranch | null;

/** A block's intermediate tensors: what a training forward keeps for its backward (src/train/block.ts). */
export interface BlockTensors {
  n1: RmsNormOutputs;
  /** q and k after bias and RoPE (as attention saw them), v after bias. */
  q: Tensor<'f32'>;
  k: Tensor<'f32'>;
  v: Tensor<'f32'>;
  o: Tensor<'f32'>;
  /** The residual stream after the attention half (x itself when the block runs in place). */
  xMid: Tensor<'f32'>;
  n2: RmsNormOutputs;
  g: Tensor<'f32'>;
  u: Tensor<'f32'>;
  /** silu(g) ⊙ u, the down projection's input. */
  h: Tensor<'f32'>;
}

/**
 * Where the two residual adds land: `mid` gives the tensor the attention half adds into (given the block's
 * input), `out` the one the MLP half adds into (given mid, after the attention half).
 */
interface Residual {
  mid(x: Tensor<'f32'>): Tensor<'f32'>;
  out(mid: Tensor<'f32'>): Tensor<'f32'>;
}

/** One block's call: its layer of the model, the input x [T, dim], positions [T] (RoPE), attention, adapter. */
export interface BlockCall {
  ctx: GpuContext;
  w: ModelWeights;
  layer: LayerWeights;
  cfg: LlamaConfig;
  x: Tensor<'f32'>;
  pos: Tensor<'u32'>;
  T: number;
  attend: Attend;
  adapt?: Adapt;
}

/** Records one block on x in place. */
export function llamaBlock(call: BlockCall): void {
  const inPlace: Residual = { mid: (t) => t, out: (t) => t };
  const t = recordBlock(call, inPlace);
  [t.n1.y, t.n1.rrms, t.q, t.k, t.v, t.o, t.n2.y, t.n2.rrms, t.g, t.u, t.h].forEach((u) => u.release());
}

/**
 * Records one block on x, left intact, into a new output tensor, and returns it with every intermediate tensor
 * (the caller owns them all). Branches' saved tensors are the `adapt` hook's to keep.
 */
export function llamaBlockKeeping(call: BlockCall): { out: Tensor<'f32'>; kept: BlockTensors } {
  const { ctx, T, cfg } = call;
  // Copies, not a pass-through: the backward needs x and xMid as they were.
  const copyOf = (src: Tensor<'f32'>) => {
    const dst = ctx.tensor([T, cfg.dim]);
    ctx.copy(src, dst, src.byteLength);
    return dst;
  };
  let out: Tensor<'f32'> | undefined;
  const keeping: Residual = { mid: copyOf, out: (mid) => (out = copyOf(mid)) };
  const kept = recordBlock(call, keeping, false);
  return { out: out!, kept };
}

function recordBlock(call: BlockCall, residual: Residual, releaseBranches = true): BlockTensors {
  const { ctx, w, layer, cfg, x, pos, T, attend, adapt } = call;
  const { dim, nHeads, nKvHeads, headDim, normEps: eps } = cfg;
  const ropeOpts = {
    T,
    nHeads,
    nKvHeads,
    headDim,
    theta: cfg.ropeTheta,
    pairing: cfg.ropePairing,
    freqFactors: w.ropeFactors,
  };
  // y = W·input, or into += W·input (the fused residual add), + the adapter's branch if any (its last product
  // in the linear's epilogue; what the branch saved for a backward is released once the linear is recorded,
  // unless a training forward keeps it).
  const project = (target: TargetModule, input: Tensor<'f32'>, weight: Weight, into?: Tensor<'f32'>, gated?: Gated) => {
    const branch = adapt?.(target, input);
    const y = linear(ctx, input, weight, T, { accumulate: !!into, lowRank: branch?.lowRank, gated }, into);
    if (releaseBranches) branch?.saved.forEach((t) => t.release());
    return y;
  };
  // Qwen2's q/k/v biases belong to the projections, so they go in before RoPE.
  const withBias = (y: Tensor<'f32'>, b: Tensor<'f32'> | undefined) => (b ? biasAdd(ctx, y, b, T) : y);
  const n1 = rmsnorm(ctx, x, layer.attnNorm, { T, D: dim, eps });
  const q = withBias(project('q', n1.y, layer.wq), layer.bq);
  const k = withBias(project('k', n1.y, layer.wk), layer.bk);
  rope(ctx, q, k, pos, ropeOpts);
  const v = withBias(project('v', n1.y, layer.wv), layer.bv);
  const o = attend(q, k, v);
  const xMid = residual.mid(x);
  project('o', o, layer.wo, xMid);
  const n2 = rmsnorm(ctx, xMid, layer.ffnNorm, { T, D: dim, eps });
  const g = project('gate', n2.y, layer.gate);
  const h = ctx.tensor(g.shape);
  const u = project('up', n2.y, layer.up, undefined, { gate: g, out: h }); // writes h = silu(g) ⊙ u too
  project('down', h, layer.down, residual.out(xMid));
  return { n1, q, k, v, o, xMid, n2, g, u, h };
}
