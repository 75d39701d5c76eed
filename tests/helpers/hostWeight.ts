// Random base weights on the host, as the bytes uploadWeight takes and the float64 reference reads.

import { f32ToF16 } from '../../src/io/f16';
import { quantize } from '../../src/io/quant';
import type { WeightType } from '../../src/ops/weight';
import type { HostWeight } from '../../src/reference/linear';
import { randomF32 } from './random';
import { bf16Bits } from './randomModel';

/** A rows × cols weight of `type` from uniform values (quantized or narrowed as the type stores them). */
export function hostWeight(type: WeightType, rows: number, cols: number, random: () => number): HostWeight {
  const v = randomF32(rows * cols, random);
  const bytes =
    type === 'f32'
      ? new Uint8Array(v.buffer)
      : type === 'f16'
        ? new Uint8Array(Uint16Array.from(v, f32ToF16).buffer)
        : type === 'bf16'
          ? new Uint8Array(bf16Bits(v).buffer)
          : quantize(type, v);
  return { type, rows, cols, bytes };
}
