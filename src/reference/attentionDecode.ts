// Float64 references for attention against a KV cache and for the row copies that fill it. Layouts as in
// src/ops/attentionDecode.ts: q, o [n, H·hd]; caches [rows, KV·hd]; query i has the place (start, pos) =
// (places[2i], places[2i+1]) and sees cache rows start … start + pos. Query head h reads KV head
// floor(h / (H / KV)).

import type { DecodeDims } from '../ops/contracts';

/** The decode attention's sizes (shared with src/ops/attentionDecode.ts). */
export type RefDecodeDims = DecodeDims;

export function attentionDecodeRef(
  q: ArrayLike<number>,
  kCache: ArrayLike<number>,
  vCache: ArrayLike<number>,
  places: ArrayLike<number>,
  d: RefDecodeDims,
): Float64Array {
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const o = new Float64Array(d.n * d.H * d.hd);
  for (let i = 0; i < d.n; i++) {
    for (let h = 0; h < d.H; h++) {
      const qi = (i * d.H + h) * d.hd;
      const kvAt = (j: number) => ((places[2 * i] + j) * d.KV + Math.floor(h / (d.H / d.KV))) * d.hd;
      const s: number[] = [];
      for (let j = 0; j <= places[2 * i + 1]; j++) {
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
export function copyRowsRef(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  o: { rows: number; width: number; srcRow?: number; dstRow?: number },
): Float64Array {
  const out = Float64Array.from(dst);
  const { rows, width, srcRow = 0, dstRow = 0 } = o;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < width; c++) out[(dstRow + r) * width + c] = src[(srcRow + r) * width + c];
  }
  return out;
}

/** dst with row places[2r] + places[2r+1] replaced by src's row r, for r < rows; a new array. */
export function scatterRowsRef(
  src: ArrayLike<number>,
  dst: ArrayLike<number>,
  places: ArrayLike<number>,
  o: { rows: number; width: number },
): Float64Array {
  const out = Float64Array.from(dst);
  for (let r = 0; r < o.rows; r++) {
    const at = places[2 * r] + places[2 * r + 1];
    for (let c = 0; c < o.width; c++) out[at * o.width + c] = src[r * o.width + c];
  }
  return out;
}

/** dst [rows, width] with row r = src's row places[2r] + places[2r+1]. */
export function gatherRowsRef(
  src: ArrayLike<number>,
  places: ArrayLike<number>,
  o: { rows: number; width: number },
): Float64Array {
  const out = new Float64Array(o.rows * o.width);
  for (let r = 0; r < o.rows; r++) {
    const at = places[2 * r] + places[2 * r + 1];
    for (let c = 0; c < o.width; c++) out[r * o.width + c] = src[at * o.width + c];
  }
  return out;
}
