// Float64 reference for the MTL-LoRA branch (docs/DESIGN.md §4), for one task t: the specification
// src/ops/mtlLora.ts is tested against.
//   h = drop(x)·Aᵀ [T, r], z = h·Λ_tᵀ [T, r], π = softmax(w_t / τ) [n], B_mix = Σ_i π_i B^i [out, r],
//   y = y0 + s·z·B_mixᵀ [T, out].
// Shapes (row-major): x [T, in], A [r, in], Λ_t [r, r], B [n, out, r] (the n up-projections stacked), w_t [n].

import type { MtlLoraDims, MtlLoraOptions, MtlLoraSaved } from '../ops/contracts';
import { dropoutRef, linearRef, loraInputBackwardRef, tokenProductRef } from './lora';

export type { MtlLoraDims, MtlLoraOptions, MtlLoraSaved };

/** π = softmax(w / τ), computed stably. */
export function mixingWeightsRef(w: ArrayLike<number>, tau: number): Float64Array {
  const logits = Float64Array.from(w as ArrayLike<number>, (v) => v / tau);
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** B_mix = Σ_i π_i B^i [out, r]. */
export function mixRef(pi: ArrayLike<number>, Bs: ArrayLike<number>, d: MtlLoraDims): Float64Array {
  const size = d.out * d.r;
  const mix = new Float64Array(size);
  for (let i = 0; i < d.n; i++) for (let e = 0; e < size; e++) mix[e] += pi[i] * Bs[i * size + e];
  return mix;
}

export function mtlLoraForwardRef(
  x: ArrayLike<number>,
  A: ArrayLike<number>,
  lambda: ArrayLike<number>,
  Bs: ArrayLike<number>,
  w: ArrayLike<number>,
  d: MtlLoraDims,
  o: MtlLoraOptions,
  y0?: ArrayLike<number>,
): MtlLoraSaved<Float64Array> & { y: Float64Array; bMix: Float64Array } {
  const h = linearRef(dropoutRef(x, d.T, d.in, o), A, d.T, d.in, d.r);
  const z = linearRef(h, lambda, d.T, d.r, d.r);
  const pi = mixingWeightsRef(w, o.tau);
  const bMix = mixRef(pi, Bs, d);
  const y = linearRef(z, bMix, d.T, d.r, d.out);
  for (let i = 0; i < y.length; i++) y[i] = (y0 ? y0[i] : 0) + o.scale * y[i];
  return { y, h, z, pi, bMix };
}

/**
 * Backward from dy [T, out], from the definitions:
 *   dB^i = s·π_i·dyᵀ·z,  dπ_i = s·Σ_tokens dy·(B^i z),  dw = π ⊙ (dπ − Σ_j π_j dπ_j) / τ,
 *   dz = s·dy·B_mix,  dΛ = dzᵀ·h,  dh = dz·Λ,  then dA and dx as in plain LoRA.
 * Returns the contributions alone (and dπ, which the GPU keeps as a by-product).
 */
export function mtlLoraBackwardRef(
  x: ArrayLike<number>,
  saved: MtlLoraSaved<ArrayLike<number>>,
  dy: ArrayLike<number>,
  A: ArrayLike<number>,
  lambda: ArrayLike<number>,
  Bs: ArrayLike<number>,
  d: MtlLoraDims,
  o: MtlLoraOptions,
) {
  const { h, z, pi } = saved;
  const size = d.out * d.r;
  const dBs = new Float64Array(d.n * size);
  const dpi = new Float64Array(d.n);
  const dyz = tokenProductRef(dy, z, d.out, d.r, d.T);
  for (let i = 0; i < d.n; i++) {
    const Bi = Array.prototype.slice.call(Bs, i * size, (i + 1) * size) as number[];
    const yi = linearRef(z, Bi, d.T, d.r, d.out); // B^i z per token
    for (let k = 0; k < yi.length; k++) dpi[i] += o.scale * dy[k] * yi[k];
    for (let e = 0; e < size; e++) dBs[i * size + e] = o.scale * pi[i] * dyz[e];
  }
  let mean = 0;
  for (let j = 0; j < d.n; j++) mean += pi[j] * dpi[j];
  const dw = Float64Array.from(dpi, (v, i) => (pi[i] * (v - mean)) / o.tau);
  const dz = linearRef(dy, mixRef(pi, Bs, d), d.T, d.out, d.r, true).map((v) => o.scale * v);
  const dLambda = tokenProductRef(dz, h, d.r, d.r, d.T);
  const dh = linearRef(dz, lambda, d.T, d.r, d.r, true);
  return { dBs, dpi, dw, dLambda, ...loraInputBackwardRef(x, dh, A, d, o) };
}
