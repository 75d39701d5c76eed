// Inference with a KV cache: per layer, the rotated keys and the values of every position seen so far stay
// on the GPU ([sequences · maxTokens, KV·hd] each), so each new token costs one position's projections and
// MLP plus an attention over the cache, instead of recomputing the whole sequence (forward.ts) every step.
// The cache holds one sequence for the playground's generation and a batch of them for evaluation's greedy
// decoding (src/train/decode.ts): one pass runs any number of new tokens of any of its sequences, each row
// placed by (its sequence's first cache row, its position). A trained adapter (LoRA or MTL-LoRA) rides along
// through the block's projection hook, so adapted generation is incremental too.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { attentionDecode } from '../ops/attentionDecode';
import { gatherRows, scatterRows } from '../ops/copyRows';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import type { AdapterSites as Adapter, AdapterRun } from './adapterHook';
import { type Adapt, llamaBlock } from './block';
import type { LlamaConfig } from './config';
import type { ModelWeights } from './weights';

export class KvCache {
  /** Positions filled so far, per sequence: sequence s's next token goes to position lengths[s]. */
  readonly lengths: number[];

  private constructor(
    readonly maxTokens: number,
    readonly sequences: number,
    readonly k: Tensor<'f32'>[],
    readonly v: Tensor<'f32'>[],
  ) {
    this.lengths = new Array<number>(sequences).fill(0);
  }

  /** Sequence 0's length: generation of one sequence reads and rewinds it. */
  get length(): number {
    return this.lengths[0];
  }

  set length(n: number) {
    this.lengths[0] = n;
  }

  /**
   * Caches for `sequences` sequences of up to `maxTokens` positions each (at most the model's context); the GPU
   * limits are checked on allocation. Sequence s occupies cache rows s·maxTokens … (s+1)·maxTokens − 1.
   */
  static create(ctx: GpuContext, cfg: LlamaConfig, maxTokens: number, sequences = 1): KvCache {
    if (!Number.isInteger(maxTokens) || maxTokens < 1)
      throw new Error(`KV cache: maxTokens must be ≥ 1, got ${maxTokens}`);
    if (!Number.isInteger(sequences) || sequences < 1)
      throw new Error(`KV cache: sequences must be ≥ 1, got ${sequences}`);
    if (maxTokens > cfg.contextLength) {
      throw new Error(`KV cache: ${maxTokens} tokens exceed the model's context length of ${cfg.contextLength}.`);
    }
    const shape = [sequences * maxTokens, cfg.nKvHeads * cfg.headDim];
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
    return new KvCache(maxTokens, sequences, k, v);
  }

  /** Bytes the caches of a model take for `sequences` × `maxTokens` positions (for memory estimates). */
  static bytes(cfg: LlamaConfig, maxTokens: number, sequences = 1): number {
    return 2 * cfg.nLayers * sequences * maxTokens * cfg.nKvHeads * cfg.headDim * 4;
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
 * What a site saves is only what its backward would need, so the block releases it once the projection is
 * recorded (the pool hands the buffers to later-recorded work only, which runs after it).
 */
function adapterHook(ctx: GpuContext, a: WithAdapter, l: number, T: number): Adapt {
  return (target, x) => a.adapter.site(l, target)?.forward(ctx, x, T, a.run) ?? null;
}

/** New tokens of one cached sequence, to run at positions cache.lengths[seq] onwards. */
export interface CachedInput {
  seq: number;
  tokens: readonly number[];
}

/**
 * Records the forward pass of several sequences' new tokens as one batch of T rows (the inputs' tokens one
 * after another), appends their keys and values to each sequence's cache, advances cache.lengths, and returns
 * the final hidden states [T, dim] before the output norm (the caller picks the rows it needs: `headLogits`).
 * The prompt (prefill), a speculative draft and each generated token go through here alike. With `adapted`,
 * every adapted projection gets the adapter's branch; the cache must then have been filled with the same
 * adapter and run.
 */
export function forwardCachedRows(
  ctx: GpuContext,
  w: ModelWeights,
  cfg: LlamaConfig,
  cache: KvCache,
  inputs: readonly CachedInput[],
  adapted?: WithAdapter,
): Tensor<'f32'> {
  const places = placesOf(cache, inputs);
  const T = places.length / 2;
  const { nHeads: H, nKvHeads: KV, headDim: hd } = cfg;
  const ids = ctx.upload(Uint32Array.from(inputs.flatMap((input) => input.tokens)), [T], 'u32');
  const pos = ctx.upload(
    places.filter((_, i) => i % 2 === 1),
    [T],
    'u32',
  );
  const where = ctx.upload(places, [2 * T], 'u32');
  const x = embedding(ctx, w.embed, ids, T);
  w.layers.forEach((layer, l) => {
    const attend = (q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>) => {
      scatterRows(ctx, k, cache.k[l], where, { rows: T, width: KV * hd });
      scatterRows(ctx, v, cache.v[l], where, { rows: T, width: KV * hd });
      return attentionDecode(ctx, q, cache.k[l], cache.v[l], where, { n: T, H, KV, hd });
    };
    llamaBlock({ ctx, w, layer, cfg, x, pos, T, attend, adapt: adapted ? adapterHook(ctx, adapted, l, T) : undefined });
  });
  [ids, pos, where].forEach((t) => t.release());
  inputs.forEach(({ seq, tokens }) => {
    cache.lengths[seq] += tokens.length;
  });
  return x;
}

/** Each new row's (first cache row of its sequence, position), checked against the cache. */
function placesOf(cache: KvCache, inputs: readonly CachedInput[]): Uint32Array {
  const T = inputs.reduce((n, input) => n + input.tokens.length, 0);
  if (T === 0) throw new Error('forwardCached: no tokens to run.');
  const places = new Uint32Array(2 * T);
  const seen = new Set<number>();
  let r = 0;
  for (const { seq, tokens } of inputs) {
    if (!(Number.isInteger(seq) && seq >= 0 && seq < cache.sequences)) {
      throw new Error(`forwardCached: sequence ${seq} is not one of the cache's ${cache.sequences}.`);
    }
    if (seen.has(seq)) throw new Error(`forwardCached: sequence ${seq} is given twice in one pass.`);
    seen.add(seq);
    const pos0 = cache.lengths[seq];
    if (pos0 + tokens.length > cache.maxTokens) {
      throw new Error(
        `forwardCached: positions up to ${pos0 + tokens.length - 1} do not fit a ${cache.maxTokens}-token KV cache.`,
      );
    }
    for (let i = 0; i < tokens.length; i++, r++) places.set([seq * cache.maxTokens, pos0 + i], 2 * r);
  }
  return places;
}

/** Logits [rows.length, vocab] of the given rows of final hidden states x [*, dim]: output norm and head on those rows only. */
export function headLogits(
  ctx: GpuContext,
  w: ModelWeights,
  cfg: LlamaConfig,
  x: Tensor<'f32'>,
  rows: readonly number[],
): Tensor<'f32'> {
  const { dim, normEps: eps } = cfg;
  const n = rows.length;
  if (rows.some((r) => !(Number.isInteger(r) && r >= 0 && (r + 1) * dim <= x.numel))) {
    throw new Error(`headLogits: rows ${rows.join(', ')} are not all rows of a ${x.numel / dim}-row block.`);
  }
  const where = ctx.upload(Uint32Array.from(rows.flatMap((r) => [r, 0])), [2 * n], 'u32');
  const picked = gatherRows(ctx, x, ctx.tensor([n, dim]), where, { rows: n, width: dim });
  const normed = rmsnorm(ctx, picked, w.outNorm, { T: n, D: dim, eps });
  const logits = linear(ctx, normed.y, w.head, n);
  [where, picked, normed.y, normed.rrms].forEach((t) => t.release());
  return logits;
}

/**
 * Records the forward pass of one sequence's `tokens` at positions cache.length … cache.length + T − 1 (sequence
 * 0 of the cache), appends their keys and values, and returns the logits of the last token only ([1, vocab]).
 */
export function forwardCached(
  ctx: GpuContext,
  w: ModelWeights,
  cfg: LlamaConfig,
  cache: KvCache,
  tokens: ArrayLike<number>,
  adapted?: WithAdapter,
): Tensor<'f32'> {
  const x = forwardCachedRows(ctx, w, cfg, cache, [{ seq: 0, tokens: Array.from(tokens) }], adapted);
  const logits = headLogits(ctx, w, cfg, x, [tokens.length - 1]);
  x.release();
  return logits;
}
