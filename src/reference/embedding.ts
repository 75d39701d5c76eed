// Float64 reference for the embedding gather: row ids[t] of the dequantized table, for every token t.

import { f16ToF32 } from './f16';
import { dequantize } from './quant';

/** A [rows, cols] table as stored on the GPU (see src/ops/weight.ts): its type and raw GGML bytes. */
export interface RefTable {
  type: 'f32' | 'f16' | 'q8_0' | 'q4_0';
  rows: number;
  cols: number;
  bytes: Uint8Array;
}

/** The whole table decoded to float64, row-major. */
export function decodeTable(table: RefTable): Float64Array {
  const n = table.rows * table.cols;
  const view = new DataView(table.bytes.buffer, table.bytes.byteOffset, table.bytes.byteLength);
  switch (table.type) {
    case 'f32': return Float64Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case 'f16': return Float64Array.from({ length: n }, (_, i) => f16ToF32(view.getUint16(2 * i, true)));
    default: return dequantize(table.type, table.bytes, n);
  }
}

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
