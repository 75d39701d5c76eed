// Batched greedy decoding with an adapter, for exact-match evaluation. The KV cache (src/model/kvCache.ts)
// holds one sequence (its attention kernel has no batch dimension), so to decode several prompts together
// this runs the training forward (src/train/block.ts, nothing kept) over the whole batch once per new token:
// O(length²) work, fine for the few tokens of an exact-match completion. Single-prompt generation with an
// adapter goes through the cache (src/model/generate.ts), and must pick the same tokens. Every sequence of
// the batch advances together; after each pass only the rows at each sequence's last position go through
// the final norm and head, and only those [B, vocab] logits are read back.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { copyRows } from '../ops/copyRows';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { type StepEnv, blockForward, releaseActivations } from './block';
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

/** Greedy continuations of each prompt (their new tokens, EOS excluded), all prompts decoded as one batch. */
export async function greedyDecode(ctx: GpuContext, model: TrainModel, adapter: Adapter, run: AdapterRun,
  prompts: readonly number[][], o: GreedyOptions): Promise<number[][]> {
  const { config: cfg, weights: w } = model;
  const B = prompts.length;
  if (B === 0) return [];
  if (prompts.some((p) => p.length === 0)) throw new Error('greedyDecode: every prompt needs at least one token');
  const S = Math.min(cfg.contextLength, Math.max(...prompts.map((p) => p.length)) + o.maxNewTokens);
  const seqs = prompts.map((p) => [...p]);
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map((p) => p.length >= S);
  const T = B * S;
  const pos = ctx.upload(Uint32Array.from({ length: T }, (_, i) => i % S), [T], 'u32');
  try {
    for (let step = 0; step < o.maxNewTokens && done.includes(false); step++) {
      const tokens = new Uint32Array(T);
      seqs.forEach((s, b) => tokens.set(s.slice(0, S), b * S));
      const ids = ctx.upload(tokens, [T], 'u32');
      const lengths = ctx.upload(Uint32Array.from(seqs, (s) => Math.min(S, s.length)), [B], 'u32');
      const env: StepEnv = {
        ctx, weights: w, cfg, adapter, run, T, pos, lengths, attn: { B, S, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim },
      };
      let x = embedding(ctx, w.embed, ids, T);
      for (let l = 0; l < cfg.nLayers; l++) {
        const f = blockForward(env, l, x);
        releaseActivations(f.acts);
        x.release();
        x = f.out;
      }
      const last = ctx.tensor([B, cfg.dim]);
      seqs.forEach((s, b) => copyRows(ctx, x, last, { rows: 1, width: cfg.dim, srcRow: b * S + Math.min(S, s.length) - 1, dstRow: b }));
      const n = rmsnorm(ctx, last, w.outNorm, { T: B, D: cfg.dim, eps: cfg.normEps });
      const logits = linear(ctx, n.y, w.head, B);
      const rows = await ctx.read(logits);
      [ids, lengths, x, last, n.y, n.rrms, logits].forEach((t) => t.release());
      seqs.forEach((s, b) => {
        if (done[b]) return;
        const id = argmax(rows, b * cfg.vocabSize, cfg.vocabSize);
        if (id === o.eosId) {
          done[b] = true;
          return;
        }
        s.push(id);
        out[b].push(id);
        if (s.length >= S) done[b] = true;
      });
    }
  } finally {
    pos.release();
  }
  return out;
}
