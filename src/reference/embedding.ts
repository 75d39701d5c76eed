// Float64 reference for the embedding gather: row ids[t] of the dequantized table, for every token t.

import { type HostWeight, weightRef } from './linear';

/** A [rows, cols] table as stored on the GPU (see src/ops/weight.ts): its type and raw GGML bytes. */
export type RefTable = HostWeight;

/** The whole table decoded to float64, row-major. */
export const decodeTable = weightRef;

/** out[t, c] = table[ids[t], c] ([T, cols], float64); ids ≥ rows give a row of zeros, as on the GPU. */
export function embeddingRef(table: RefTable, ids: ArrayLike<number>, T: number): Float64Array {
  const values = decodeTable(table);
  const dim = table.cols;
  const out = new Float64Array(T * dim);
  for (let t = 0; t < T; t++) {
    if (ids[t] >= table.rows) continue;
    out.set(values.subarray(ids[t] * dim, (ids[t] + 1) * dim), t * dim);
  }
  return out;
}
