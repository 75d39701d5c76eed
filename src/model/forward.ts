// The LLaMA forward pass on the GPU for one sequence (inference; training keeps activations elsewhere):
// pre-norm blocks h = x + Attn(RMSNorm(x)); out = h + MLP(RMSNorm(h)); final RMSNorm; head (DESIGN.md §5).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { attention } from '../ops/attention';
import { biasAdd } from '../ops/biasAdd';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { rope } from '../ops/rope';
import { swiglu } from '../ops/swiglu';
import type { LlamaConfig } from './config';
import type { ModelWeights } from './weights';

/** Records the forward pass of `tokens` (positions 0..T−1) and returns the logits [T, vocab]. */
export function forwardLogits(ctx: GpuContext, w: ModelWeights, cfg: LlamaConfig, tokens: Uint32Array): Tensor<'f32'> {
  const T = tokens.length;
  const { dim, nHeads, nKvHeads, headDim, normEps: eps } = cfg;
  const ids = ctx.upload(tokens, [T], 'u32');
  const pos = ctx.upload(Uint32Array.from({ length: T }, (_, i) => i), [T], 'u32');
  const lengths = ctx.upload(Uint32Array.of(T), [1], 'u32');
  const ropeOpts = { T, headDim, theta: cfg.ropeTheta, pairing: cfg.ropePairing, freqFactors: w.ropeFactors };
  const x = embedding(ctx, w.embed, ids, T);
  // Qwen2's q/k/v biases are part of the projections, so they go in before RoPE.
  const withBias = (y: Tensor<'f32'>, b: Tensor<'f32'> | undefined) => (b ? biasAdd(ctx, y, b, T) : y);
  for (const layer of w.layers) {
    const n1 = rmsnorm(ctx, x, layer.attnNorm, { T, D: dim, eps });
    const q = rope(ctx, withBias(linear(ctx, n1.y, layer.wq, T), layer.bq), pos, { ...ropeOpts, nHeads });
    const k = rope(ctx, withBias(linear(ctx, n1.y, layer.wk, T), layer.bk), pos, { ...ropeOpts, nHeads: nKvHeads });
    const v = withBias(linear(ctx, n1.y, layer.wv, T), layer.bv);
    const { o, lse } = attention(ctx, q, k, v, lengths, { B: 1, S: T, H: nHeads, KV: nKvHeads, hd: headDim });
    linear(ctx, o, layer.wo, T, { accumulate: true }, x);
    const n2 = rmsnorm(ctx, x, layer.ffnNorm, { T, D: dim, eps });
    const g = linear(ctx, n2.y, layer.gate, T);
    const u = linear(ctx, n2.y, layer.up, T);
    const h = swiglu(ctx, g, u);
    linear(ctx, h, layer.down, T, { accumulate: true }, x);
    [n1.y, n1.rrms, q, k, v, o, lse, n2.y, n2.rrms, g, u, h].forEach((t) => t.release());
  }
  const n = rmsnorm(ctx, x, w.outNorm, { T, D: dim, eps });
  const logits = linear(ctx, n.y, w.head, T);
  [x, n.y, n.rrms, ids, pos, lengths].forEach((t) => t.release());
  return logits;
}
