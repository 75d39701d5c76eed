// The LLaMA forward pass on the GPU for one sequence, every position's logits (docs/DESIGN.md §5): embedding,
// the blocks (block.ts) with causal flash attention over the whole sequence, final RMSNorm, head.
// Generation uses the cached variant in kvCache.ts.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { attention } from '../ops/attention';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { llamaBlock } from './block';
import type { LlamaConfig } from './config';
import type { ModelWeights } from './weights';

/** Records the forward pass of `tokens` (positions 0..T−1) and returns the logits [T, vocab]. */
export function forwardLogits(ctx: GpuContext, w: ModelWeights, cfg: LlamaConfig, tokens: Uint32Array): Tensor<'f32'> {
  const T = tokens.length;
  const ids = ctx.upload(tokens, [T], 'u32');
  const pos = ctx.upload(
    Uint32Array.from({ length: T }, (_, i) => i),
    [T],
    'u32',
  );
  const lengths = ctx.upload(Uint32Array.of(T), [1], 'u32');
  const dims = { B: 1, S: T, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim };
  const x = embedding(ctx, w.embed, ids, T);
  for (const layer of w.layers) {
    const attend = (q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>) => {
      const { o, lse } = attention(ctx, q, k, v, lengths, dims);
      lse.release();
      return o;
    };
    llamaBlock({ ctx, w, layer, cfg, x, pos, T, attend });
  }
  const n = rmsnorm(ctx, x, w.outNorm, { T, D: cfg.dim, eps: cfg.normEps });
  const logits = linear(ctx, n.y, w.head, T);
  [x, n.y, n.rrms, ids, pos, lengths].forEach((t) => t.release());
  return logits;
}
