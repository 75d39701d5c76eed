// One pre-norm LLaMA block, shared by the full-sequence forward (forward.ts) and the cached one (kvCache.ts):
// x += Wo·Attn(RoPE(Wq·n1 + bq), RoPE(Wk·n1 + bk), Wv·n1 + bv) with n1 = RMSNorm(x);
// x += Wdown·(silu(Wgate·n2) ⊙ Wup·n2) with n2 = RMSNorm(x). The residual adds are fused into the o and down
// projections (linear with accumulate), SwiGLU into the up projection (its `gated` output), q and k rotate in
// one dispatch. Only the attention itself differs between callers; an optional hook adds an adapter's branch
// to each projection (its last product in the linear's epilogue: the cached forward with a trained adapter).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { biasAdd } from '../ops/biasAdd';
import { type LinearOptions, linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
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

/** Records one block on x [T, dim] in place; `pos` [T] holds each token's position for RoPE. */
export function llamaBlock(
  ctx: GpuContext,
  w: ModelWeights,
  layer: LayerWeights,
  cfg: LlamaConfig,
  x: Tensor<'f32'>,
  pos: Tensor<'u32'>,
  T: number,
  attend: Attend,
  adapt?: Adapt,
): void {
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
  // in the linear's epilogue; what the branch saved for a backward is released once the linear is recorded).
  const project = (target: TargetModule, input: Tensor<'f32'>, weight: Weight, into?: Tensor<'f32'>, gated?: Gated) => {
    const branch = adapt?.(target, input);
    const y = linear(ctx, input, weight, T, { accumulate: !!into, lowRank: branch?.lowRank, gated }, into);
    branch?.saved.forEach((t) => t.release());
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
  project('o', o, layer.wo, x);
  const n2 = rmsnorm(ctx, x, layer.ffnNorm, { T, D: dim, eps });
  const g = project('gate', n2.y, layer.gate);
  const h = ctx.tensor(g.shape);
  const u = project('up', n2.y, layer.up, undefined, { gate: g, out: h }); // writes h = silu(g) ⊙ u too
  project('down', h, layer.down, x);
  [n1.y, n1.rrms, q, k, v, o, n2.y, n2.rrms, g, u, h].forEach((t) => t.release());
}
