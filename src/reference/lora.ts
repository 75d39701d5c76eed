// Float64 reference for the LoRA low-rank branch: the specification src/ops/lora.ts is tested against.
// y += s·B·(A·drop(x)), s = alpha / r; x [T, in], A [r, in], B [out, r], all row-major (PEFT shapes).

import { type LoraDims, type LoraOptions, dropoutThreshold } from '../ops/contracts';

export { type LoraDims, type LoraOptions, dropoutThreshold };

/** PCG-RXS-M-XS output permutation on u32, exactly as shaders/lora_dropout.wgsl computes it. */
function pcg(v: number): number {
  const state = (Math.imul(v, 747796405) + 2891336453) >>> 0;
  const word = Math.imul(((state >>> ((state >>> 28) + 4)) ^ state) >>> 0, 277803737) >>> 0;
  return ((word >>> 22) ^ word) >>> 0;
}

/** Whether dropout keeps element (token, feature) under `seed`: the shader's hash, bit for bit. */
export function dropoutKeep(seed: number, token: number, feature: number, threshold: number): boolean {
  const h = pcg((pcg((pcg(feature) ^ token) >>> 0) ^ seed) >>> 0);
  return h >>> 8 >= threshold;
}

/** drop(x) = x ⊙ mask / (1 − p) for x [T, cols]; x itself when p = 0. */
export function dropoutRef(x: ArrayLike<number>, T: number, cols: number, o: LoraOptions): Float64Array {
  const p = o.dropout ?? 0;
  const out = Float64Array.from(x as ArrayLike<number>);
  if (p === 0) return out;
  const threshold = dropoutThreshold(p);
  const seed = (o.seed ?? 0) >>> 0;
  for (let t = 0; t < T; t++) {
    for (let f = 0; f < cols; f++) {
      out[t * cols + f] = dropoutKeep(seed, t, f, threshold) ? out[t * cols + f] / (1 - p) : 0;
    }
  }
  return out;
}

/** C [M, N] = X [T, M]ᵀ · Y [T, N]: a gradient summed over tokens. */
export function tokenProductRef(
  X: ArrayLike<number>,
  Y: ArrayLike<number>,
  M: number,
  N: number,
  T: number,
): Float64Array {
  const c = new Float64Array(M * N);
  for (let t = 0; t < T; t++) {
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) c[m * N + n] += X[t * M + m] * Y[t * N + n];
    }
  }
  return c;
}

/** C [T, N] = X [T, K] · W [N, K]ᵀ, or X · W with W [K, N] when `plain`. */
export function linearRef(
  X: ArrayLike<number>,
  W: ArrayLike<number>,
  T: number,
  K: number,
  N: number,
  plain = false,
): Float64Array {
  const c = new Float64Array(T * N);
  for (let t = 0; t < T; t++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += X[t * K + k] * (plain ? W[k * N + n] : W[n * K + k]);
      c[t * N + n] = s;
    }
  }
  return c;
}

/** Forward: h = drop(x)·Aᵀ [T, r]; y = y0 + s·h·Bᵀ [T, out] (y0 = 0 when omitted). */
export function loraForwardRef(
  x: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  d: LoraDims,
  o: LoraOptions,
  y0?: ArrayLike<number>,
): { y: Float64Array; h: Float64Array } {
  const h = linearRef(dropoutRef(x, d.T, d.in, o), A, d.T, d.in, d.r);
  const y = linearRef(h, B, d.T, d.r, d.out);
  for (let i = 0; i < y.length; i++) y[i] = (y0 ? y0[i] : 0) + o.scale * y[i];
  return { y, h };
}

/**
 * Backward from dy [T, out]: dB = s·dyᵀ·h, dh = s·dy·B, dA = dhᵀ·drop(x), dx = drop'(dh·A) (the mask and
 * 1/(1−p) applied again). Returns the contributions alone (the GPU op may add them to existing gradients).
 */
export function loraBackwardRef(
  x: ArrayLike<number>,
  h: ArrayLike<number>,
  dy: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  d: LoraDims,
  o: LoraOptions,
): { dA: Float64Array; dB: Float64Array; dx: Float64Array } {
  const dB = tokenProductRef(dy, h, d.out, d.r, d.T).map((v) => o.scale * v);
  const dh = linearRef(dy, B, d.T, d.out, d.r, true).map((v) => o.scale * v);
  return { dB, ...loraInputBackwardRef(x, dh, A, d, o) };
}

/** The part of the backward shared with MTL-LoRA: from dh [T, r] to dA [r, in] and dx [T, in]. */
export function loraInputBackwardRef(
  x: ArrayLike<number>,
  dh: ArrayLike<number>,
  A: ArrayLike<number>,
  d: LoraDims,
  o: LoraOptions,
): { dA: Float64Array; dx: Float64Array } {
  const dA = tokenProductRef(dh, dropoutRef(x, d.T, d.in, o), d.r, d.in, d.T);
  const dx = dropoutRef(linearRef(dh, A, d.T, d.r, d.in, true), d.T, d.in, o);
  return { dA, dx };
}
