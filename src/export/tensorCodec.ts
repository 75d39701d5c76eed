// Host conversion of a base tensor's stored bytes to f32 and of f32 values to an output type, for merging on
// the CPU: every dtype a base can come in (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K) decodes exactly as ggml
// does; F32, F16, BF16 and Q8_0 encode (f16 and bf16 round to nearest even, Q8_0 is ggml's reference encoder).

import { toF32 } from '../model/weights';
import type { GgmlTypeName } from '../io/ggml';
import type { StoredDtype } from '../model/tensorSource';
import { f32ToF16 } from '../io/f16';
import { QK, dequantize, quantizeQ8_0 } from '../io/quant';
import { dequantizeQ4_K, dequantizeQ6_K } from '../io/quantK';

export type MergedDtype = Extract<GgmlTypeName, 'F32' | 'F16' | 'BF16' | 'Q8_0'>;

export const QUANTIZED: readonly StoredDtype[] = ['Q8_0', 'Q4_0', 'Q4_K', 'Q6_K'];

export function decodeTensor(dtype: StoredDtype, bytes: Uint8Array, count: number, name: string): Float32Array {
  switch (dtype) {
    case 'F32':
    case 'F16':
    case 'BF16':
      return toF32(dtype, bytes, name);
    case 'Q8_0':
      return Float32Array.from(dequantize('q8_0', bytes, count));
    case 'Q4_0':
      return Float32Array.from(dequantize('q4_0', bytes, count));
    case 'Q4_K':
      return Float32Array.from(dequantizeQ4_K(bytes, count));
    case 'Q6_K':
      return Float32Array.from(dequantizeQ6_K(bytes, count));
  }
}

/** bf16 bits of an f32 value, round to nearest even (NaN stays NaN). */
function f32ToBf16(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return (bits >>> 16) | 0x40;
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** The bytes of `values` as `dtype` (Q8_0 needs rows of whole 32-value blocks: `cols` % 32 = 0). */
export function encodeTensor(values: Float32Array, dtype: MergedDtype, cols: number): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case 'F16':
      return new Uint8Array(Uint16Array.from(values, f32ToF16).buffer);
    case 'BF16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
      return new Uint8Array(Uint16Array.from(bits, f32ToBf16).buffer);
    }
    case 'Q8_0':
      if (cols % QK) throw new Error(`Q8_0 needs rows of a multiple of ${QK} values, got ${cols}`);
      return quantizeQ8_0(values);
  }
}
