// What an op and its float64 specification in src/reference/ share: the sizes and options both take, and the
// dropout rule both apply bit for bit. It lives with the ops because production code never imports
// src/reference/ (the specification may import production code, not the reverse).

/**
 * A batch of B sequences padded to S positions, H query heads and KV key/value heads of hd dimensions.
 * Query head h reads KV head floor(h / (H / KV)). Scores are scaled by `scale` (default 1/√hd).
 */
export interface AttentionDims {
  B: number;
  S: number;
  H: number;
  KV: number;
  hd: number;
  scale?: number;
}

/** n queries (each placed by a (first cache row, position) pair), H query heads, KV key/value heads of hd dims; scale default 1/√hd. */
export interface DecodeDims {
  n: number;
  H: number;
  KV: number;
  hd: number;
  scale?: number;
}

/** Sizes of one LoRA product: T tokens, in → out features through rank r. */
export interface LoraDims {
  T: number;
  in: number;
  out: number;
  r: number;
}

export interface LoraOptions {
  /** s = lora_alpha / r. */
  scale: number;
  /** Dropout probability on the branch's input, in [0, 1); 0 (the default) disables it. */
  dropout?: number;
  /** Seed of the dropout mask; the backward pass must be given the same one. */
  seed?: number;
}

/** The integer threshold on a 24-bit uniform: an element is kept when its hash ≥ threshold. */
export function dropoutThreshold(p: number): number {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout must be in [0, 1), got ${p}`);
  return Math.round(p * 2 ** 24);
}

export interface MtlLoraDims extends LoraDims {
  /** Number of up-projections B^i shared by all tasks. */
  n: number;
}

export interface MtlLoraOptions extends LoraOptions {
  /** Softmax temperature τ of the mixing weights. */
  tau: number;
}

/** What the MTL-LoRA forward keeps for the backward. */
export interface MtlLoraSaved<T> {
  h: T;
  z: T;
  pi: T;
}
