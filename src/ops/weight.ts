// Frozen base weights on the GPU, stored as they come or quantized: the raw bytes of a row-major
// [rows, cols] matrix in GGML's layout (rows contiguous, Q8_0/Q4_0 blocks of 32 along each row, f16 as
// IEEE half). Kernels read them as u32 words at byte offsets (blocks of 34 or 18 bytes straddle words).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { BLOCK_BYTES, QK } from '../io/quant';

export type WeightType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0';

export interface Weight {
  type: WeightType;
  rows: number;
  cols: number;
  /** The bytes, zero-padded to a whole number of u32 words. */
  data: Tensor<'u32'>;
}

/** Bytes of one row: f32 4·cols, f16 and bf16 2·cols, Q8_0 34·cols/32, Q4_0 18·cols/32. */
export function rowBytes(type: WeightType, cols: number): number {
  switch (type) {
    case 'f32':
      return 4 * cols;
    case 'f16':
    case 'bf16':
      return 2 * cols;
    default:
      if (cols % QK) throw new Error(`${type} rows need a multiple of ${QK} columns, got ${cols}`);
      return (cols / QK) * BLOCK_BYTES[type];
  }
}

export function weightBytes(type: WeightType, rows: number, cols: number): number {
  return rows * rowBytes(type, cols);
}

/** Uploads raw weight bytes (exactly rows·rowBytes of them). */
export function uploadWeight(ctx: GpuContext, type: WeightType, rows: number, cols: number, bytes: Uint8Array): Weight {
  const n = weightBytes(type, rows, cols);
  if (bytes.byteLength !== n) throw new Error(`${type} [${rows}, ${cols}] needs ${n} bytes, got ${bytes.byteLength}`);
  const words = new Uint32Array(Math.ceil(n / 4));
  new Uint8Array(words.buffer).set(bytes);
  return { type, rows, cols, data: ctx.upload(words, [words.length], 'u32') };
}

export function releaseWeight(w: Weight): void {
  w.data.release();
}
