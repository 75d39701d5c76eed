// Float64 references for attention against a KV cache and for the row copy that fills it. Layouts as in
// src/ops/attentionDecode.ts: q, o [n, H·hd]; caches [maxTokens, KV·hd]; query i sits at position pos0 + i and
// sees cached keys 0 … pos0 + i. Query head h reads KV head floor(h / (H / KV)).

import type { DecodeDims } from '../ops/contracts';

/** The decode attention's sizes (shared with src/ops/attentionDecode.ts). */
export type RefDecodeDims = DecodeDims;

export function attentionDecodeRef(q: ArrayLike<number>, kCache: ArrayLike<number>, vCache: ArrayLike<number>,
  d: RefDecodeDims): Float64Array {
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const o = new Float64Array(d.n * d.H * d.hd);
  for (let i = 0; i < d.n; i++) {
    for (let h = 0; h < d.H; h++) {
      const qi = (i * d.H + h) * d.hd;
      const kvAt = (j: number) => (j * d.KV + Math.floor(h / (d.H / d.KV))) * d.hd;
      const s: number[] = [];
      for (let j = 0; j <= d.pos0 + i; j++) {
        let dot = 0;
        for (let t = 0; t < d.hd; t++) dot += q[qi + t] * kCache[kvAt(j) + t];
        s.push(scale * dot);
      }
      const m = Math.max(...s);
      const sum = s.reduce((a, x) => a + Math.exp(x - m), 0);
      s.forEach((x, j) => {
        const p = Math.exp(x - m) / sum;
        for (let t = 0; t < d.hd; t++) o[qi + t] += p * vCache[kvAt(j) + t];
      });
    }
  }
  return o;
}

/** dst with rows dstRow … dstRow+rows−1 replaced by src's rows srcRow …; a new array, dst is untouched. */
export function copyRowsRef(src: ArrayLike<number>, dst: ArrayLike<number>,
  o: { rows: number; width: number; srcRow?: number; dstRow?: number }): Float64Array {
  const out = Float64Array.from(dst);
  const { rows, width, srcRow = 0, dstRow = 0 } = o;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) out[(dstRow + r) * width + c] = src[(srcRow + r) * width + c];
  }
  return out;
}
