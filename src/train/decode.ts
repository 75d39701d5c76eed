// Batched greedy decoding with an adapter, for evaluating answers. The KV cache (src/model/kvCache.ts) holds
// one sequence (its attention kernel has no batch dimension), so to decode several prompts together this runs
// the training forward (src/train/block.ts, nothing kept) over the whole batch once per new token, and only the
// rows it needs go through the final norm and head and are read back. Single-prompt generation with an adapter
// goes through the cache (src/model/generate.ts), and must pick the same tokens.
//
// With a draft (the reference answer, at evaluation) decoding is speculative: one forward over prompt + draft
// gives the argmax after every draft prefix; greedy decoding would emit the draft's tokens as long as they equal
// those argmaxes, and at the first difference emits the argmax itself. So one pass yields the greedy tokens up
// to one past the first mismatch, exactly, and only sequences that are not finished by then decode on. A model
// that answers right costs one forward instead of one per token.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { copyRows } from '../ops/copyRows';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { type StepEnv, forwardInference } from './block';
import type { TrainModel } from './step';

export interface GreedyOptions {
  /** New tokens per prompt at most. */
  maxNewTokens: number;
  /** A sequence stops after producing this token (it is not returned). */
  eosId: number | null;
}

function argmax(row: Float32Array, from: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (row[from + i] > row[from + best]) best = i;
  return best;
}

/**
 * The argmax token after each requested position: sequences `seqs` (padded into one batch) run through the
 * model, and for sequence b the rows at positions `at[b]` go through the head. One readback.
 */
async function argmaxAt(ctx: GpuContext, model: TrainModel, adapter: Adapter, run: AdapterRun, seqs: readonly number[][],
  at: readonly number[][]): Promise<number[][]> {
  const { config: cfg, weights: w } = model;
  const B = seqs.length;
  const S = Math.max(...seqs.map((s) => s.length));
  const T = B * S;
  const tokens = new Uint32Array(T);
  seqs.forEach((s, b) => tokens.set(s, b * S));
  const ids = ctx.upload(tokens, [T], 'u32');
  const pos = ctx.upload(Uint32Array.from({ length: T }, (_, i) => i % S), [T], 'u32');
  const lengths = ctx.upload(Uint32Array.from(seqs, (s) => s.length), [B], 'u32');
  const env: StepEnv = {
    ctx, weights: w, cfg, adapter, run, T, pos, lengths, attn: { B, S, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim },
  };
  const x = forwardInference(env, embedding(ctx, w.embed, ids, T));
  const rowsWanted = at.reduce((n, p) => n + p.length, 0);
  const picked = ctx.tensor([rowsWanted, cfg.dim]);
  let r = 0;
  at.forEach((list, b) => list.forEach((p) => copyRows(ctx, x, picked, { rows: 1, width: cfg.dim, srcRow: b * S + p, dstRow: r++ })));
  const n = rmsnorm(ctx, picked, w.outNorm, { T: rowsWanted, D: cfg.dim, eps: cfg.normEps });
  const logits = linear(ctx, n.y, w.head, rowsWanted);
  const rows = await ctx.read(logits);
  [ids, pos, lengths, x, picked, n.y, n.rrms, logits].forEach((t) => t.release());
  r = 0;
  return at.map((list) => list.map(() => argmax(rows, (r++) * cfg.vocabSize, cfg.vocabSize)));
}

/**
 * Greedy continuations of each prompt (their new tokens, EOS excluded), all prompts decoded as one batch.
 * `drafts[b]`, when given, is a guess of prompt b's continuation that is verified in one pass (see above);
 * the result is the same with or without it.
 */
export async function greedyDecode(ctx: GpuContext, model: TrainModel, adapter: Adapter, run: AdapterRun,
  prompts: readonly number[][], o: GreedyOptions, drafts?: readonly number[][]): Promise<number[][]> {
  const B = prompts.length;
  if (B === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new Error('greedyDecode: every prompt needs at least one token');
  const limit = (p: readonly number[]) => Math.min(model.config.contextLength, p.length + o.maxNewTokens);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map((p) => o.maxNewTokens <= 0 || p.length >= limit(p));
  /** Appends a greedy token to sequence b; false once b is finished. */
  const accept = (b: number, id: number): boolean => {
    if (id === o.eosId) done[b] = true;
    else {
      out[b].push(id);
      if (prompts[b].length + out[b].length >= limit(prompts[b])) done[b] = true;
    }
    return !done[b];
  };

  if (drafts) {
    const live = prompts.map((_, b) => b).filter((b) => !done[b]);
    const room = (b: number) => limit(prompts[b]) - prompts[b].length;
    const guess = live.map((b) => drafts[b].slice(0, Math.max(0, room(b) - 1)));
    const seqs = live.map((b, i) => [...prompts[b], ...guess[i]]);
    const next = await argmaxAt(ctx, model, adapter, run, seqs,
      live.map((b, i) => Array.from({ length: guess[i].length + 1 }, (_, k) => prompts[b].length - 1 + k)));
    live.forEach((b, i) => {
      for (let k = 0; k < next[i].length; k++) {
        if (!accept(b, next[i][k]) || k === guess[i].length || next[i][k] !== guess[i][k]) break;
      }
    });
  }
  while (done.includes(false)) {
    const live = prompts.map((_, b) => b).filter((b) => !done[b]);
    const seqs = live.map((b) => [...prompts[b], ...out[b]]);
    const next = await argmaxAt(ctx, model, adapter, run, seqs, seqs.map((s) => [s.length - 1]));
    live.forEach((b, i) => accept(b, next[i][0]));
  }
  return out;
}
