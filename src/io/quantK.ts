// GGML's Q4_K and Q6_K "k-quant" super-blocks, decoded as ggml's dequantize_row_q4_K / dequantize_row_q6_K
// do (float32 arithmetic emulated with Math.fround). Published GGUF files use them; we only decode them
// (then keep f32 or requantize to Q8_0/Q4_0). 256 values per block:
//   Q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes of packed 6-bit scales and mins, 128 bytes of nibbles.
//        Sub-block j (32 values) has scale sc_j and min m_j: x = d·sc_j·q − dmin·m_j.
//   Q6_K, 210 bytes: ql[128] low 4 bits, qh[64] high 2 bits, scales[16] int8, f16 d (last).
//        x = d·scale·(q − 32) with q a 6-bit value.

import { f16ToF32 } from './f16';
import { ggmlType } from './ggml';

/** Values per super-block, from the one GGML type table (src/io/ggml.ts). */
export const QK_K = ggmlType('Q4_K').blockSize;

export type KQuantType = 'q4_k' | 'q6_k';

export const K_BLOCK_BYTES: Record<KQuantType, number> = {
  q4_k: ggmlType('Q4_K').blockBytes,
  q6_k: ggmlType('Q6_K').blockBytes,
};

const fr = Math.fround;

/** ggml's get_scale_min_k4: the j-th (0..7) 6-bit scale and min from the 12 packed bytes at `q[o..]`. */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j] & 63, q[o + j + 4] & 63];
  return [(q[o + j + 4] & 0xf) | ((q[o + j - 4] >> 6) << 4), (q[o + j + 4] >> 4) | ((q[o + j] >> 6) << 4)];
}

export function dequantizeQ4_K(bytes: Uint8Array, n: number): Float64Array {
  checkLength('q4_k', bytes, n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Float64Array(n);
  let yi = 0;
  for (let i = 0; i < n / QK_K; i++) {
    const base = i * K_BLOCK_BYTES.q4_k;
    const d = f16ToF32(view.getUint16(base, true));
    const min = f16ToF32(view.getUint16(base + 2, true));
    const scales = base + 4;
    let q = base + 16;
    let is = 0;
    for (let j = 0; j < QK_K; j += 64) {
      const [sc1, m1] = scaleMinK4(is, bytes, scales);
      const [sc2, m2] = scaleMinK4(is + 1, bytes, scales);
      const d1 = fr(d * sc1);
      const min1 = fr(min * m1);
      const d2 = fr(d * sc2);
      const min2 = fr(min * m2);
      for (let l = 0; l < 32; l++) y[yi++] = fr(fr(d1 * (bytes[q + l] & 0xf)) - min1);
      for (let l = 0; l < 32; l++) y[yi++] = fr(fr(d2 * (bytes[q + l] >> 4)) - min2);
      q += 32;
      is += 2;
    }
  }
  return y;
}

export function dequantizeQ6_K(bytes: Uint8Array, n: number): Float64Array {
  checkLength('q6_k', bytes, n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const y = new Float64Array(n);
  for (let i = 0; i < n / QK_K; i++) {
    const base = i * K_BLOCK_BYTES.q6_k;
    const d = f16ToF32(view.getUint16(base + 208, true));
    for (let half = 0; half < 2; half++) {
      const ql = base + 64 * half;
      const qh = base + 128 + 32 * half;
      const sc = base + 192 + 8 * half;
      const yo = i * QK_K + 128 * half;
      for (let l = 0; l < 32; l++) {
        const is = Math.floor(l / 16);
        const q1 = ((bytes[ql + l] & 0xf) | (((bytes[qh + l] >> 0) & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32] & 0xf) | (((bytes[qh + l] >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l] >> 4) | (((bytes[qh + l] >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32] >> 4) | (((bytes[qh + l] >> 6) & 3) << 4)) - 32;
        y[yo + l] = fr(fr(d * view.getInt8(sc + is)) * q1);
        y[yo + l + 32] = fr(fr(d * view.getInt8(sc + is + 2)) * q2);
        y[yo + l + 64] = fr(fr(d * view.getInt8(sc + is + 4)) * q3);
        y[yo + l + 96] = fr(fr(d * view.getInt8(sc + is + 6)) * q4);
      }
    }
  }
  return y;
}

/** Decodes `n` values (a multiple of 256) of a Q4_K or Q6_K tensor; same argument order as the GPU op. */
export function dequantizeKRef(bytes: Uint8Array, type: KQuantType, n: number): Float64Array {
  return type === 'q4_k' ? dequantizeQ4_K(bytes, n) : dequantizeQ6_K(bytes, n);
}

function checkLength(type: KQuantType, bytes: Uint8Array, n: number): void {
  if (n % QK_K) throw new Error(`${type} needs a multiple of ${QK_K} values, got ${n}`);
  const need = (n / QK_K) * K_BLOCK_BYTES[type];
  if (bytes.byteLength < need) throw new Error(`${type}: ${n} values need ${need} bytes, got ${bytes.byteLength}`);
}
