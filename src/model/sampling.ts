// Choosing the next token from a row of logits, on the host (only that row is read back): greedy argmax, or
// sampling with temperature, top-k and top-p (nucleus) from a seeded generator, so the same seed and the
// same logits give the same tokens. Order as in Hugging Face transformers: temperature scales the logits,
// then top-k, then top-p over the tempered distribution, then one draw.

import { mulberry32 } from '../util/mulberry32';

export interface SamplingOptions {
  /** 0 (or `greedy`) picks the argmax; otherwise logits are divided by it. Default 1. */
  temperature?: number;
  greedy?: boolean;
  /** Keep only the k most likely tokens (0 or undefined: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability sums to at least p (1: all). */
  topP?: number;
  /** Seed of the generator; a random one when omitted (readable back from Sampler.seed). */
  seed?: number;
}

/** The index of the largest logit (the lowest index among equals); NaN logits are never chosen. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) if (best < 0 ? !Number.isNaN(logits[i]) : logits[i] > logits[best]) best = i;
  if (best < 0) throw new Error('sampling: every logit is NaN (the model produced no usable output).');
  return best;
}

/** mulberry32 (src/util/mulberry32.ts): uniforms in [0, 1) from a seed. */
export const seededRandom = mulberry32;

function isGreedy(o: SamplingOptions): boolean {
  return !!o.greedy || o.temperature === 0;
}

function validate(o: SamplingOptions): void {
  const t = o.temperature ?? 1;
  if (!(t >= 0) || !Number.isFinite(t))
    throw new Error(`sampling: temperature must be a finite number ≥ 0, got ${o.temperature}`);
  if (o.topK !== undefined && !(Number.isInteger(o.topK) && o.topK >= 0)) {
    throw new Error(`sampling: top-k must be a whole number ≥ 0, got ${o.topK}`);
  }
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1))
    throw new Error(`sampling: top-p must be in (0, 1], got ${o.topP}`);
}

/**
 * The distribution a draw is made from: candidate ids, most likely first (ties by lower id), with their
 * renormalised probabilities (float64). Greedy gives the argmax with probability 1.
 */
export function samplingDistribution(
  logits: ArrayLike<number>,
  o: SamplingOptions,
): { ids: number[]; probs: number[] } {
  validate(o);
  if (isGreedy(o)) return { ids: [argmax(logits)], probs: [1] };
  const t = o.temperature ?? 1;
  let ids = Array.from({ length: logits.length }, (_, i) => i).filter((i) => !Number.isNaN(logits[i]));
  if (ids.length === 0) throw new Error('sampling: every logit is NaN (the model produced no usable output).');
  ids.sort((a, b) => logits[b] - logits[a] || a - b);
  if (o.topK) ids = ids.slice(0, o.topK);
  const max = logits[ids[0]] / t;
  const weights = ids.map((i) => Math.exp(logits[i] / t - max));
  const total = weights.reduce((a, x) => a + x, 0);
  let probs = weights.map((x) => x / total);
  if (o.topP !== undefined && o.topP < 1) {
    let cum = 0;
    let keep = 0;
    while (keep < probs.length && cum < o.topP) cum += probs[keep++];
    ids = ids.slice(0, keep);
    probs = probs.slice(0, keep).map((p) => p / cum);
  }
  return { ids, probs };
}

export class Sampler {
  readonly seed: number;
  private random: () => number;

  constructor(readonly options: SamplingOptions = {}) {
    validate(options);
    this.seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    this.random = seededRandom(this.seed);
  }

  /** The next token for this row of logits. */
  sample(logits: ArrayLike<number>): number {
    if (isGreedy(this.options)) return argmax(logits);
    const { ids, probs } = samplingDistribution(logits, this.options);
    let r = this.random();
    for (let i = 0; i < ids.length; i++) {
      r -= probs[i];
      if (r < 0) return ids[i];
    }
    return ids[ids.length - 1]; // r landed in the rounding slack of the last probability
  }
}
