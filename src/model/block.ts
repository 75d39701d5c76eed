// One pre-norm LLaMA block, shared by the full-sequence forward (forward.ts) and the cached one (kvCache.ts):
// x += Wo·Attn(RoPE(Wq·n1 + bq), RoPE(Wk·n1 + bk), Wv·n1 + bv) with n1 = RMSNorm(x);
// x += Wdown·(silu(Wgate·n2) ⊙ Wup·n2) with n2 = RMSNorm(x). The residual adds are fused into the o and down
// projections (linear with accumulate). Only the attention itself differs between callers.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { biasAdd } from '../ops/biasAdd';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { rope } from '../ops/rope';
import { swiglu } from '../ops/swiglu';
import type { LlamaConfig } from './config';
import type { LayerWeights, ModelWeights } from './weights';

/** Attention over rotated q, k and v of the block's T tokens; returns o [T, H·hd] (released by the block). */
export type Attend = (q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>) => Tensor<'f32'>;

/** Records one block on x [T, dim] in place; `pos` [T] holds each token's position for RoPE. */
export function llamaBlock(ctx: GpuContext, w: ModelWeights, layer: LayerWeights, cfg: LlamaConfig,
  x: Tensor<'f32'>, pos: Tensor<'u32'>, T: number, attend: Attend): void {
  const { dim, nHeads, nKvHeads, headDim, normEps: eps } = cfg;
  const ropeOpts = { T, headDim, theta: cfg.ropeTheta, pairing: cfg.ropePairing, freqFactors: w.ropeFactors };
  // Qwen2's q/k/v biases belong to the projections, so they go in before RoPE.
  const withBias = (y: Tensor<'f32'>, b: Tensor<'f32'> | undefined) => (b ? biasAdd(ctx, y, b, T) : y);
  const n1 = rmsnorm(ctx, x, layer.attnNorm, { T, D: dim, eps });
  const q = rope(ctx, withBias(linear(ctx, n1.y, layer.wq, T), layer.bq), pos, { ...ropeOpts, nHeads });
  const k = rope(ctx, withBias(linear(ctx, n1.y, layer.wk, T), layer.bk), pos, { ...ropeOpts, nHeads: nKvHeads });
  const v = withBias(linear(ctx, n1.y, layer.wv, T), layer.bv);
  const o = attend(q, k, v);
  linear(ctx, o, layer.wo, T, { accumulate: true }, x);
  const n2 = rmsnorm(ctx, x, layer.ffnNorm, { T, D: dim, eps });
  const g = linear(ctx, n2.y, layer.gate, T);
  const u = linear(ctx, n2.y, layer.up, T);
  const h = swiglu(ctx, g, u);
  linear(ctx, h, layer.down, T, { accumulate: true }, x);
  [n1.y, n1.rrms, q, k, v, o, n2.y, n2.rrms, g, u, h].forEach((t) => t.release());
}
