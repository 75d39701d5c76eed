// The CPU Q8_0/Q4_0 encoder and f16 conversion on known values (hand-computed from GGML's definitions).

import { describe, expect, it } from 'vitest';
import { f16ToF32, f32ToF16 } from '../../src/io/f16';
import { dequantizeQ4_0, dequantizeQ8_0, quantizeQ4_0, quantizeQ8_0 } from '../../src/io/quant';

describe('f16', () => {
  it('converts with round-to-nearest-even, subnormals and overflow', () => {
    expect(f32ToF16(1)).toBe(0x3c00);
    expect(f32ToF16(-2)).toBe(0xc000);
    expect(f32ToF16(65504)).toBe(0x7bff);
    expect(f32ToF16(65520)).toBe(0x7c00); // rounds up to Inf
    expect(f32ToF16(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(f32ToF16(2 ** -25)).toBe(0x0000); // tie → even (0)
    expect(f32ToF16(3 * 2 ** -25)).toBe(0x0002); // tie → even (2)
    expect(f32ToF16(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(f32ToF16(1 + 3 * 2 ** -11)).toBe(0x3c02);
    for (const h of [0x0001, 0x03ff, 0x0400, 0x3555, 0x7bff, 0xfbff, 0x8001]) expect(f32ToF16(f16ToF32(h))).toBe(h);
  });
});

describe('Q8_0 / Q4_0 reference encoder', () => {
  it('Q8_0: scale = amax/127 in f16, q = round(x/d)', () => {
    const x = Array.from({ length: 32 }, (_, i) => (i - 16) / 4); // amax = 4 at i = 0
    const q = quantizeQ8_0(x);
    expect(q.length).toBe(34);
    const d = new DataView(q.buffer).getUint16(0, true);
    expect(d).toBe(f32ToF16(Math.fround(4 / 127)));
    expect(new Int8Array(q.buffer, 2, 32)[0]).toBe(-127);
    const back = dequantizeQ8_0(q, 32);
    for (let i = 0; i < 32; i++) expect(Math.abs(back[i] - x[i])).toBeLessThan(0.02);
  });

  it('Q4_0: the largest-magnitude value maps to −8, nibbles pair j with j+16', () => {
    const x = Array.from({ length: 32 }, (_, i) => (i === 5 ? 8 : i / 8));
    const q = quantizeQ4_0(x);
    expect(q.length).toBe(18);
    expect(new DataView(q.buffer).getUint16(0, true)).toBe(f32ToF16(-1)); // d = 8 / −8
    expect(q[2 + 5] & 15).toBe(0); // 8/−1 + 8.5 = 0.5 → 0 → value (0−8)·(−1) = 8
    const back = dequantizeQ4_0(q, 32);
    expect(back[5]).toBe(8);
    expect(back[16 + 3]).toBe(-Math.min(15, Math.trunc(-(19 / 8) + 8.5)) + 8); // value j+16 from the high nibble
  });

  it('an all-zero block has scale ±0 and decodes to zeros', () => {
    expect(dequantizeQ8_0(quantizeQ8_0(new Float32Array(32)), 32).every((v) => v === 0)).toBe(true);
    const q4 = quantizeQ4_0(new Float32Array(32));
    expect(new DataView(q4.buffer).getUint16(0, true)).toBe(0x8000); // GGML: d = 0 / −8 = −0
    expect(dequantizeQ4_0(q4, 32).every((v) => v === 0)).toBe(true);
  });
});
