// GGML's Q8_0 and Q4_0 block formats, encoded exactly as ggml's quantize_row_q8_0_ref / q4_0_ref do
// (float32 arithmetic emulated with Math.fround), and decoded exactly. Blocks run along each row.
//   Q8_0: 34 bytes per 32 values: f16 scale d, then 32 × int8 q;             x = d·q
//   Q4_0: 18 bytes per 32 values: f16 scale d, then 16 bytes of nibbles;     value j (0..15) = ((b[j] & 15) − 8)·d,
//                                                                            value j+16 = ((b[j] >> 4) − 8)·d

import { f16ToF32, f32ToF16 } from './f16';
import { ggmlType } from './ggml';

/** Values per block (both formats), from the one GGML type table (src/io/ggml.ts). */
export const QK = ggmlType('Q8_0').blockSize;
export const Q8_0_BLOCK_BYTES = ggmlType('Q8_0').blockBytes;
export const Q4_0_BLOCK_BYTES = ggmlType('Q4_0').blockBytes;

/** The GPU kernels' spelling of the two formats they read (src/ops/ keys its kernels by it). */
export type QuantType = 'q8_0' | 'q4_0';

export const BLOCK_BYTES: Record<QuantType, number> = { q8_0: Q8_0_BLOCK_BYTES, q4_0: Q4_0_BLOCK_BYTES };

const fr = Math.fround;

/** C's roundf: half away from zero. */
function roundf(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** Quantizes `x` (length a multiple of 32) to Q8_0 bytes. */
export function quantizeQ8_0(x: ArrayLike<number>): Uint8Array {
  if (x.length % QK) throw new Error(`Q8_0 needs a multiple of ${QK} values, got ${x.length}`);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * Q8_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    let amax = 0;
    for (let j = 0; j < QK; j++) amax = Math.max(amax, Math.abs(fr(x[b * QK + j])));
    const d = fr(amax / 127);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(b * Q8_0_BLOCK_BYTES, f32ToF16(d), true);
    for (let j = 0; j < QK; j++) view.setInt8(b * Q8_0_BLOCK_BYTES + 2 + j, roundf(fr(fr(x[b * QK + j]) * id)));
  }
  return out;
}

/** Quantizes `x` (length a multiple of 32) to Q4_0 bytes. */
export function quantizeQ4_0(x: ArrayLike<number>): Uint8Array {
  if (x.length % QK) throw new Error(`Q4_0 needs a multiple of ${QK} values, got ${x.length}`);
  const nb = x.length / QK;
  const out = new Uint8Array(nb * Q4_0_BLOCK_BYTES);
  const view = new DataView(out.buffer);
  for (let b = 0; b < nb; b++) {
    // The value of largest magnitude, with its sign (the first one on ties), maps to −8.
    let amax = 0;
    let max = 0;
    for (let j = 0; j < QK; j++) {
      const v = fr(x[b * QK + j]);
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = fr(max / -8);
    const id = d ? fr(1 / d) : 0;
    view.setUint16(b * Q4_0_BLOCK_BYTES, f32ToF16(d), true);
    for (let j = 0; j < QK / 2; j++) {
      const x0 = fr(fr(x[b * QK + j]) * id);
      const x1 = fr(fr(x[b * QK + QK / 2 + j]) * id);
      const q0 = Math.min(15, Math.trunc(fr(x0 + 8.5)));
      const q1 = Math.min(15, Math.trunc(fr(x1 + 8.5)));
      out[b * Q4_0_BLOCK_BYTES + 2 + j] = q0 | (q1 << 4);
    }
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array, n: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / QK);
    const d = f16ToF32(view.getUint16(b * Q8_0_BLOCK_BYTES, true));
    out[i] = d * view.getInt8(b * Q8_0_BLOCK_BYTES + 2 + (i % QK));
  }
  return out;
}

export function dequantizeQ4_0(bytes: Uint8Array, n: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / QK);
    const j = i % QK;
    const d = f16ToF32(view.getUint16(b * Q4_0_BLOCK_BYTES, true));
    const byte = bytes[b * Q4_0_BLOCK_BYTES + 2 + (j % 16)];
    out[i] = d * ((j < 16 ? byte & 15 : byte >> 4) - 8);
  }
  return out;
}

export function quantize(type: QuantType, x: ArrayLike<number>): Uint8Array {
  return type === 'q8_0' ? quantizeQ8_0(x) : quantizeQ4_0(x);
}

export function dequantize(type: QuantType, bytes: Uint8Array, n: number): Float64Array {
  return type === 'q8_0' ? dequantizeQ8_0(bytes, n) : dequantizeQ4_0(bytes, n);
}
