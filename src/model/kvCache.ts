// Inference with a KV cache: per layer, the rotated keys and the values of every position seen so far stay
// on the GPU ([maxTokens, KV·hd] each), so each new token costs one position's projections and MLP plus an
// attention over the cache, instead of recomputing the whole sequence (forward.ts) every step. A trained
// adapter (LoRA or MTL-LoRA) rides along through the block's projection hook, so adapted generation is
// incremental too.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { attentionDecode } from '../ops/attentionDecode';
import { copyRows } from '../ops/copyRows';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import type { AdapterSites as Adapter, AdapterRun } from './adapterHook';
import { type Adapt, llamaBlock } from './block';
import type { LlamaConfig } from './config';
import type { ModelWeights } from './weights';

export class KvCache {
  /** Positions filled so far: the next token goes to this position. */
  length = 0;

  private constructor(readonly maxTokens: number, readonly k: Tensor<'f32'>[], readonly v: Tensor<'f32'>[]) {}

  /** Caches for `maxTokens` positions (at most the model's context); the GPU limits are checked on allocation. */
  static create(ctx: GpuContext, cfg: LlamaConfig, maxTokens: number): KvCache {
    if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new Error(`KV cache: maxTokens must be ≥ 1, got ${maxTokens}`);
    if (maxTokens > cfg.contextLength) {
      throw new Error(`KV cache: ${maxTokens} tokens exceed the model's context length of ${cfg.contextLength}.`);
    }
    const shape = [maxTokens, cfg.nKvHeads * cfg.headDim];
    const k: Tensor<'f32'>[] = [];
    const v: Tensor<'f32'>[] = [];
    try {
      for (let l = 0; l < cfg.nLayers; l++) {
        k.push(ctx.tensor(shape, 'f32', `k cache ${l}`));
        v.push(ctx.tensor(shape, 'f32', `v cache ${l}`));
      }
    } catch (e) {
      [...k, ...v].forEach((t) => t.release());
      throw e;
    }
    return new KvCache(maxTokens, k, v);
  }

  /** Bytes the caches of a model take for `maxTokens` positions (for memory estimates). */
  static bytes(cfg: LlamaConfig, maxTokens: number): number {
    return 2 * cfg.nLayers * maxTokens * cfg.nKvHeads * cfg.headDim * 4;
  }

  release(): void {
    [...this.k, ...this.v].forEach((t) => t.release());
  }
}

/** An adapter to apply and how to run it (run.task picks MTL-LoRA's task; its dropout should be 0). */
export interface WithAdapter {
  adapter: Adapter;
  run: AdapterRun;
}

/**
 * The block hook that adds the adapter's branch at layer l's adapted sites, as the training forward does.
 * What a site returns is only what its backward would need, so it is released at once (the pool hands the
 * buffers to later-recorded work only, which runs after this site's dispatches).
 */
function adapterHook(ctx: GpuContext, a: WithAdapter, l: number, T: number): Adapt {
  return (target, x, y) => a.adapter.site(l, target)?.forward(ctx, x, y, T, a.run).forEach((t) => t.release());
}

/**
 * Records the forward pass of `tokens` at positions cache.length … cache.length + T − 1, appends their keys
 * and values to the cache, and returns the logits of the last token only ([1, vocab]). The prompt (prefill)
 * and each generated token go through here alike. With `adapted`, every adapted projection gets the
 * adapter's branch; the cache must then have been filled with the same adapter and run.
 */
export function forwardCached(ctx: GpuContext, w: ModelWeights, cfg: LlamaConfig, cache: KvCache,
  tokens: ArrayLike<number>, adapted?: WithAdapter): Tensor<'f32'> {
  const T = tokens.length;
  const pos0 = cache.length;
  if (T === 0) throw new Error('forwardCached: no tokens to run.');
  if (pos0 + T > cache.maxTokens) {
    throw new Error(`forwardCached: positions up to ${pos0 + T - 1} do not fit a ${cache.maxTokens}-token KV cache.`);
  }
  const { dim, nHeads: H, nKvHeads: KV, headDim: hd, normEps: eps } = cfg;
  const ids = ctx.upload(Uint32Array.from(tokens), [T], 'u32');
  const pos = ctx.upload(Uint32Array.from({ length: T }, (_, i) => pos0 + i), [T], 'u32');
  const x = embedding(ctx, w.embed, ids, T);
  w.layers.forEach((layer, l) => {
    llamaBlock(ctx, w, layer, cfg, x, pos, T, (q, k, v) => {
      copyRows(ctx, k, cache.k[l], { rows: T, width: KV * hd, dstRow: pos0 });
      copyRows(ctx, v, cache.v[l], { rows: T, width: KV * hd, dstRow: pos0 });
      return attentionDecode(ctx, q, cache.k[l], cache.v[l], { n: T, pos0, H, KV, hd });
    }, adapted && adapterHook(ctx, adapted, l, T));
  });
  // Only the last position's logits are needed to pick the next token: norm and head on that row alone.
  const last = T === 1 ? x : copyRows(ctx, x, ctx.tensor([1, dim]), { rows: 1, width: dim, srcRow: T - 1 });
  const n = rmsnorm(ctx, last, w.outNorm, { T: 1, D: dim, eps });
  const logits = linear(ctx, n.y, w.head, 1);
  if (last !== x) last.release();
  [x, n.y, n.rrms, ids, pos].forEach((t) => t.release());
  cache.length = pos0 + T;
  return logits;
}
