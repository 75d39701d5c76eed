// Float64 reference for the whole LLaMA forward pass (docs/DESIGN.md §5): the specification the GPU model and
// llama.cpp are compared against, written as the plain composition of the op references. Weights are the raw
// host bytes (HostWeight), decoded exactly, so a quantized model's reference is the float64 model on its
// dequantized weights.

import { biasAddRef } from './biasAdd';
import type { LlamaConfig } from '../model/config';
import { attentionRef } from './attention';
import { embeddingRef } from './embedding';
import { type HostWeight, linearRef } from './linear';
import { rmsnormRef } from './rmsnorm';
import { ropeRef } from './rope';
import { swigluRef } from './swiglu';

export interface LlamaRefLayer {
  attnNorm: ArrayLike<number>;
  wq: HostWeight;
  wk: HostWeight;
  wv: HostWeight;
  wo: HostWeight;
  /** Qwen2's q/k/v biases, added after the projections. */
  bq?: ArrayLike<number>;
  bk?: ArrayLike<number>;
  bv?: ArrayLike<number>;
  ffnNorm: ArrayLike<number>;
  gate: HostWeight;
  up: HostWeight;
  down: HostWeight;
}

export interface LlamaRefWeights {
  embed: HostWeight;
  layers: LlamaRefLayer[];
  outNorm: ArrayLike<number>;
  /** The output head: the embedding itself when tied. */
  head: HostWeight;
  /** Llama-3 rope_freqs: per-frequency divisors. */
  ropeFactors?: ArrayLike<number>;
}

/** y [T, n] += bias [n] on every row (in place). */
function addBias(y: Float64Array, bias: ArrayLike<number> | undefined, T: number): Float64Array {
  return bias ? biasAddRef(y, bias, T) : y;
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((x, i) => x + b[i]);
}

/** Logits [T][vocab] of `tokens` at positions 0..T−1, one causal sequence. */
export function llamaForwardRef(w: LlamaRefWeights, cfg: LlamaConfig, tokens: ArrayLike<number>): Float64Array[] {
  const T = tokens.length;
  const { dim: D, nHeads, nKvHeads, headDim, normEps: eps, vocabSize } = cfg;
  const pos = Array.from({ length: T }, (_, i) => i);
  const rope = { T, headDim, theta: cfg.ropeTheta, pairing: cfg.ropePairing, freqFactors: w.ropeFactors };
  let x = embeddingRef(w.embed, tokens, T);
  for (const l of w.layers) {
    // h = x + Wo·Attn(RoPE(Wq·n), RoPE(Wk·n), Wv·n), n = RMSNorm(x)
    const n1 = rmsnormRef(x, l.attnNorm, { T, D, eps }).y;
    const q = ropeRef(addBias(linearRef(n1, l.wq, T), l.bq, T), pos, { ...rope, nHeads });
    const k = ropeRef(addBias(linearRef(n1, l.wk, T), l.bk, T), pos, { ...rope, nHeads: nKvHeads });
    const v = addBias(linearRef(n1, l.wv, T), l.bv, T);
    const { o } = attentionRef(q, k, v, [T], { B: 1, S: T, H: nHeads, KV: nKvHeads, hd: headDim });
    x = add(x, linearRef(o, l.wo, T));
    // out = h + Wdown·(silu(Wgate·n) ⊙ Wup·n), n = RMSNorm(h)
    const n2 = rmsnormRef(x, l.ffnNorm, { T, D, eps }).y;
    x = add(x, linearRef(swigluRef(linearRef(n2, l.gate, T), linearRef(n2, l.up, T)), l.down, T));
  }
  const logits = linearRef(rmsnormRef(x, w.outNorm, { T, D, eps }).y, w.head, T);
  return Array.from({ length: T }, (_, t) => logits.subarray(t * vocabSize, (t + 1) * vocabSize));
}
