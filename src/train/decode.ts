// Batched greedy decoding with an adapter, for evaluating answers: every prompt of a batch is one sequence of
// a batched KV cache (src/model/kvCache.ts), so the prompts run through the model once and each new token
// costs one position per live sequence, all sequences in one pass; only the rows whose next token is wanted go
// through the final norm and head and are read back.
//
// With a draft (the reference answer, at evaluation) decoding is speculative: the first pass runs prompt +
// draft and gives the argmax after every draft prefix; greedy decoding would emit the draft's tokens as long
// as they equal those argmaxes, and at the first difference emits the argmax itself. So one pass yields the
// greedy tokens up to one past the first mismatch, exactly; the cache then keeps the prompt and the accepted
// draft tokens (the rejected draft's rows are overwritten by the next steps, never read before), and only the
// sequences that are not finished by then decode on, one token a pass. A model that answers right costs one
// pass; one that does not, one small pass per further token.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { type CachedInput, KvCache, forwardCachedRows, headLogits } from '../model/kvCache';
import type { TrainModel } from './step';

export interface GreedyOptions {
  /** New tokens per prompt at most: one limit for all, or one per prompt. */
  maxNewTokens: number | readonly number[];
  /** A sequence stops after producing this token (it is not returned). */
  eosId: number | null;
}

function argmax(row: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (row[from + i] > row[from + best]) best = i;
  return best;
}

/**
 * Runs each input's new tokens through the cached model (one pass for all) and returns, per input, the argmax
 * token after each of its new tokens listed in `at` (indices into that input's tokens). One readback.
 */
async function argmaxAfter(
  ctx: GpuContext,
  model: TrainModel,
  cache: KvCache,
  adapted: { adapter: Adapter; run: AdapterRun },
  inputs: readonly CachedInput[],
  at: readonly number[][],
): Promise<number[][]> {
  const { config: cfg, weights: w } = model;
  const x = forwardCachedRows(ctx, w, cfg, cache, inputs, adapted);
  const rows: number[] = [];
  let offset = 0;
  inputs.forEach((input, i) => {
    at[i].forEach((k) => rows.push(offset + k));
    offset += input.tokens.length;
  });
  const logits = headLogits(ctx, w, cfg, x, rows);
  const values = await ctx.read(logits);
  [x, logits].forEach((t) => t.release());
  let r = 0;
  return at.map((list) => list.map(() => argmax(values, r++ * cfg.vocabSize, cfg.vocabSize)));
}

/**
 * Greedy continuations of each prompt (their new tokens, EOS excluded), all prompts decoded as one batch.
 * `drafts[b]`, when given, is a guess of prompt b's continuation that is verified in one pass (see above);
 * the result is the same with or without it.
 */
export async function greedyDecode(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  run: AdapterRun,
  prompts: readonly number[][],
  o: GreedyOptions,
  drafts?: readonly number[][],
): Promise<number[][]> {
  const B = prompts.length;
  if (B === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new Error('greedyDecode: every prompt needs at least one token');
  const newTokens = (b: number) => (typeof o.maxNewTokens === 'number' ? o.maxNewTokens : o.maxNewTokens[b]);
  if (typeof o.maxNewTokens !== 'number' && o.maxNewTokens.length !== B) {
    throw new Error(`greedyDecode: ${o.maxNewTokens.length} token limits for ${B} prompts`);
  }
  const limits = prompts.map((p, b) => Math.min(model.config.contextLength, p.length + newTokens(b)));
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map((p, b) => newTokens(b) <= 0 || p.length >= limits[b]);
  /** Appends a greedy token to sequence b; false once b is finished. */
  const accept = (b: number, id: number): boolean => {
    if (id === o.eosId) done[b] = true;
    else {
      out[b].push(id);
      if (prompts[b].length + out[b].length >= limits[b]) done[b] = true;
    }
    return !done[b];
  };

  const live = () => prompts.map((_, b) => b).filter((b) => !done[b]);
  const first = live();
  if (first.length === 0) return out;
  const adapted = { adapter, run };
  const cache = KvCache.create(ctx, model.config, Math.max(...first.map((b) => limits[b])), B);
  try {
    // The first pass: every prompt, with its draft when there is one.
    const guess = first.map((b) => (drafts ? drafts[b].slice(0, Math.max(0, limits[b] - prompts[b].length - 1)) : []));
    const next = await argmaxAfter(
      ctx,
      model,
      cache,
      adapted,
      first.map((b, i) => ({ seq: b, tokens: [...prompts[b], ...guess[i]] })),
      first.map((b, i) => Array.from({ length: guess[i].length + 1 }, (_, k) => prompts[b].length - 1 + k)),
    );
    first.forEach((b, i) => {
      for (let k = 0; k < next[i].length; k++) {
        if (!accept(b, next[i][k]) || k === guess[i].length || next[i][k] !== guess[i][k]) break;
      }
      // The cache keeps the prompt and the accepted draft tokens: every emitted token but the last has run.
      cache.lengths[b] = prompts[b].length + out[b].length - 1;
    });
    // Then one token a pass for every sequence still going.
    for (let going = live(); going.length > 0; going = live()) {
      const step = await argmaxAfter(
        ctx,
        model,
        cache,
        adapted,
        going.map((b) => ({ seq: b, tokens: [out[b][out[b].length - 1]] })),
        going.map(() => [0]),
      );
      going.forEach((b, i) => accept(b, step[i][0]));
    }
  } finally {
    cache.release();
  }
  return out;
}
