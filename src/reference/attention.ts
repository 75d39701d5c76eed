// Float64 reference for causal grouped-query self-attention with a padding mask: the specification the GPU
// kernels are tested against. Layouts as in src/ops/attention.ts: q, o [B·S, H·hd]; k, v [B·S, KV·hd];
// lse [B, H, S]; lengths [B]. Query head h reads KV head floor(h / (H / KV)); query i of sequence b attends
// to keys j ≤ i (which are then < lengths[b]); padding rows (i ≥ lengths[b]) have o = 0, lse = 0, zero grads.

import type { AttentionDims } from '../ops/contracts';
import { matmulRef } from './matmul';

/** The attention's sizes (shared with src/ops/attention.ts). */
export type RefAttentionDims = AttentionDims;

/** Index helpers shared by the functions below. */
function layout(d: RefAttentionDims) {
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const group = d.H / d.KV;
  return {
    scale,
    /** Start of (sequence b, position i, query head h) in q, o, dO. */
    qAt: (b: number, i: number, h: number) => ((b * d.S + i) * d.H + h) * d.hd,
    /** Start of (sequence b, position j, the KV head read by query head h) in k, v. */
    kvAt: (b: number, j: number, h: number) => ((b * d.S + j) * d.KV + Math.floor(h / group)) * d.hd,
    lseAt: (b: number, h: number, i: number) => (b * d.H + h) * d.S + i,
    len: (lengths: ArrayLike<number>, b: number) => Math.min(lengths[b], d.S),
  };
}

function dotAt(x: ArrayLike<number>, xi: number, y: ArrayLike<number>, yi: number, n: number): number {
  let s = 0;
  for (let t = 0; t < n; t++) s += x[xi + t] * y[yi + t];
  return s;
}

/** Forward: per query row, softmax over its visible keys; returns o and the row log-sum-exp. */
export function attentionRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: RefAttentionDims,
): { o: Float64Array; lse: Float64Array } {
  const { B, S, H, hd } = dims;
  const L = layout(dims);
  const o = new Float64Array(B * S * H * hd);
  const lse = new Float64Array(B * H * S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L.len(lengths, b); i++) {
        const s = Array.from({ length: i + 1 }, (_, j) => L.scale * dotAt(q, L.qAt(b, i, h), k, L.kvAt(b, j, h), hd));
        const m = Math.max(...s);
        const rowLse = m + Math.log(s.reduce((acc, x) => acc + Math.exp(x - m), 0));
        lse[L.lseAt(b, h, i)] = rowLse;
        for (let j = 0; j <= i; j++) {
          const p = Math.exp(s[j] - rowLse);
          for (let t = 0; t < hd; t++) o[L.qAt(b, i, h) + t] += p * v[L.kvAt(b, j, h) + t];
        }
      }
    }
  }
  return { o, lse };
}

/**
 * The same forward computed the way llama.cpp and HF transformers do it, as an independent check of
 * attentionRef: per head, the full S×S matrix scale·Q·Kᵀ plus an additive mask (−∞ above the diagonal and
 * on padding keys), a row softmax, then P·V. Fully masked (padding) query rows are set to 0 here, where
 * those libraries would leave NaN or garbage that the loss ignores.
 */
export function attentionLlamaRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: RefAttentionDims,
): Float64Array {
  const { B, S, H, hd } = dims;
  const L = layout(dims);
  const o = new Float64Array(B * S * H * hd);
  const slice = (x: ArrayLike<number>, at: (i: number) => number) => {
    const out = new Float64Array(S * hd);
    for (let i = 0; i < S; i++) for (let t = 0; t < hd; t++) out[i * hd + t] = x[at(i) + t];
    return out;
  };
  for (let b = 0; b < B; b++) {
    const len = L.len(lengths, b);
    for (let h = 0; h < H; h++) {
      const Qh = slice(q, (i) => L.qAt(b, i, h));
      const Kh = slice(k, (j) => L.kvAt(b, j, h));
      const Vh = slice(v, (j) => L.kvAt(b, j, h));
      const scores = matmulRef(Qh, Kh, S, S, hd, { transB: true });
      const P = new Float64Array(S * S);
      for (let i = 0; i < len; i++) {
        const row = Array.from(
          { length: S },
          (_, j) => L.scale * scores[i * S + j] + (j <= i && j < len ? 0 : -Infinity),
        );
        const m = Math.max(...row);
        const e = row.map((x) => Math.exp(x - m));
        const sum = e.reduce((a, x) => a + x, 0);
        e.forEach((x, j) => (P[i * S + j] = x / sum));
      }
      const Oh = matmulRef(P, Vh, S, hd, S);
      for (let i = 0; i < len; i++) for (let t = 0; t < hd; t++) o[L.qAt(b, i, h) + t] = Oh[i * hd + t];
    }
  }
  return o;
}

/**
 * Backward, analytically, from the forward's o and lse (as the GPU op takes them):
 * P_ij = exp(scale·q_i·k_j − lse_i), D_i = dO_i·o_i, dS_ij = P_ij (dO_i·v_j − D_i),
 * dq_i = scale Σ_j dS_ij k_j, dk_j = scale Σ_i dS_ij q_i, dv_j = Σ_i P_ij dO_i (sums over the query heads of
 * the KV head's group too).
 */
export function attentionBackwardRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  o: ArrayLike<number>,
  lse: ArrayLike<number>,
  dO: ArrayLike<number>,
  lengths: ArrayLike<number>,
  dims: RefAttentionDims,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array } {
  const { B, S, H, KV, hd } = dims;
  const L = layout(dims);
  const dq = new Float64Array(B * S * H * hd);
  const dk = new Float64Array(B * S * KV * hd);
  const dv = new Float64Array(B * S * KV * hd);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < L.len(lengths, b); i++) {
        const qi = L.qAt(b, i, h);
        const D = dotAt(dO, qi, o, qi, hd);
        for (let j = 0; j <= i; j++) {
          const kj = L.kvAt(b, j, h);
          const p = Math.exp(L.scale * dotAt(q, qi, k, kj, hd) - lse[L.lseAt(b, h, i)]);
          const ds = p * (dotAt(dO, qi, v, kj, hd) - D);
          for (let t = 0; t < hd; t++) {
            dq[qi + t] += L.scale * ds * k[kj + t];
            dk[kj + t] += L.scale * ds * q[qi + t];
            dv[kj + t] += p * dO[qi + t];
          }
        }
      }
    }
  }
  return { dq, dk, dv };
}
