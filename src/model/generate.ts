// Text generation: the prompt runs through the model once (prefill, filling the KV cache), then each new
// token is one cached forward step of a single position; only its logits row is read back and sampled on
// the host. Stops at the end-of-sequence token, at maxNewTokens, or when the model's context is full.
// With a trained adapter (options.adapted) every step adds its branch, so sampling and streaming work alike.

import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import type { LlamaConfig } from './config';
import { KvCache, type WithAdapter, forwardCached } from './kvCache';
import { Sampler, type SamplingOptions } from './sampling';
import type { ModelWeights } from './weights';

export interface GenerateOptions extends SamplingOptions {
  maxNewTokens: number;
  /** Generation stops after this token (it is still reported); null: never. */
  eosId?: number | null;
  /** Called with each new token as soon as it is chosen (for streaming). */
  onToken?: (id: number) => void;
  /** Generate with this adapter's branches (LoRA, or MTL-LoRA as run.task); the base model alone when omitted. */
  adapted?: WithAdapter;
}

export interface GenerateResult {
  /** The new tokens (the prompt excluded). */
  tokens: number[];
  stoppedBy: 'eos' | 'maxNewTokens' | 'context';
  seed: number;
  promptTokens: number;
  /** Wall time of the prefill (prompt → first token) and of the remaining decode steps, in ms. */
  prefillMs: number;
  decodeMs: number;
  /** Generated tokens after the first per second of decode time (the steady decode speed). */
  tokensPerSecond: number;
}

export async function generate(
  ctx: GpuContext,
  w: ModelWeights,
  cfg: LlamaConfig,
  prompt: number[],
  opts: GenerateOptions,
): Promise<GenerateResult> {
  if (prompt.length === 0)
    throw new Error('generate: the prompt has no tokens (give text, or a tokenizer that adds BOS).');
  if (!(Number.isInteger(opts.maxNewTokens) && opts.maxNewTokens >= 0)) {
    throw new Error(`generate: maxNewTokens must be a whole number ≥ 0, got ${opts.maxNewTokens}`);
  }
  const bad = prompt.find((id) => !(Number.isInteger(id) && id >= 0 && id < cfg.vocabSize));
  if (bad !== undefined)
    throw new Error(`generate: prompt token ${bad} is outside the vocabulary of ${cfg.vocabSize}.`);
  if (prompt.length > cfg.contextLength) {
    throw new Error(
      `generate: the prompt has ${prompt.length} tokens, more than the model's context of ${cfg.contextLength}.`,
    );
  }
  const sampler = new Sampler(opts);
  // The last sampled token never runs through the model, hence − 1.
  const cache = KvCache.create(
    ctx,
    cfg,
    Math.max(1, Math.min(cfg.contextLength, prompt.length + opts.maxNewTokens - 1)),
  );
  const tokens: number[] = [];
  let stoppedBy: GenerateResult['stoppedBy'] = 'maxNewTokens';
  const t0 = performance.now();
  let t1 = t0;
  try {
    let input = prompt;
    while (tokens.length < opts.maxNewTokens) {
      if (cache.length + input.length > cache.maxTokens) {
        stoppedBy = 'context';
        break;
      }
      const logits = forwardCached(ctx, w, cfg, cache, input, opts.adapted);
      const row = await ctx.read(logits);
      logits.release();
      const id = sampler.sample(row);
      tokens.push(id);
      if (tokens.length === 1) t1 = performance.now();
      opts.onToken?.(id);
      if (opts.eosId !== undefined && opts.eosId !== null && id === opts.eosId) {
        stoppedBy = 'eos';
        break;
      }
      input = [id];
    }
  } finally {
    cache.release();
  }
  const t2 = performance.now();
  const decodeMs = tokens.length > 1 ? t2 - t1 : 0;
  return {
    tokens,
    stoppedBy,
    seed: sampler.seed,
    promptTokens: prompt.length,
    prefillMs: tokens.length ? t1 - t0 : t2 - t0,
    decodeMs,
    tokensPerSecond: decodeMs > 0 ? ((tokens.length - 1) * 1000) / decodeMs : 0,
  };
}

/**
 * Turns generated tokens into text as they arrive. Pieces are not independent (SentencePiece drops the
 * leading space of the first piece; byte-fallback tokens form UTF-8 characters across several tokens), so
 * the whole sequence is decoded and only the new, complete suffix is returned.
 */
export class TextStream {
  private ids: number[];
  private emitted: string;

  constructor(
    private tokenizer: Tokenizer,
    prompt: number[],
  ) {
    this.ids = [...prompt];
    this.emitted = tokenizer.decode(this.ids);
  }

  /** The text that token `id` completes ('' while a multi-byte character is still partial). */
  push(id: number): string {
    this.ids.push(id);
    const text = this.tokenizer.decode(this.ids);
    if (text.endsWith('\uFFFD') || !text.startsWith(this.emitted)) return '';
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }
}
