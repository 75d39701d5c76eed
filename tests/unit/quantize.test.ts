// GPU quantization against the CPU references, all exact (tolerance zero, justified per describe):
//   f32 → Q8_0 / Q4_0 byte for byte against src/io/quant.ts (ggml's quantize_row_*_ref),
//   Q4_K / Q6_K → f32 bit for bit against src/io/quantK.ts (ggml's dequantize_row_*),
//   and the requantizing chain Q4_K / Q6_K → Q8_0 / Q4_0.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { dequantizeK, kQuantBytes, quantizeWeight, requantize } from '../../src/ops/quantize';
import { type Weight, weightBytes } from '../../src/ops/weight';
import { f32ToF16 } from '../../src/io/f16';
import { type QuantType, QK, quantize } from '../../src/io/quant';
import { type KQuantType, K_BLOCK_BYTES, QK_K, dequantizeKRef } from '../../src/io/quantK';
import { gpu } from '../helpers/gpu';
import { freshSeed, rng } from '../helpers/random';

const seed = freshSeed();

/**
 * One 32-value block of a chosen kind, as float32 values. The kinds aim at every place where a GPU could
 * differ from C: ties of roundf after scaling (d a power of two makes x·(1/d) exact, so x = (n + ½)·d
 * lands exactly on n + ½), values one ULP either side of those ties, zero blocks, single non-zeros,
 * negative maxima, equal magnitudes of both signs (Q4_0 keeps the first), values a few ULPs from rounding
 * boundaries at a random scale (sensitive to the last bit of 1/d), d on f16 rounding ties, and magnitudes from 1e-30 to 1e30 (f16 d
 * underflowing to 0 or overflowing to Inf).
 */
function block(kind: number, random: () => number): Float32Array {
  const x = new Float32Array(QK);
  const uniform = () => random() * 2 - 1;
  const int = (n: number) => Math.floor(random() * n);
  switch (kind) {
    case 0: {
      // plain uniform at a random scale, 1e-30 … 1e30
      const scale = 10 ** (int(61) - 30);
      for (let j = 0; j < QK; j++) x[j] = uniform() * scale;
      break;
    }
    case 1: {
      // Q8_0 ties: amax = 127·2^-k so d = 2^-k exactly, values (n + ½)·2^-k
      const d = 2 ** (int(40) - 20);
      for (let j = 0; j < QK; j++) x[j] = (int(254) - 127 + 0.5) * d;
      x[int(QK)] = (random() < 0.5 ? -127 : 127) * d;
      break;
    }
    case 2: {
      // Q4_0 exact grid: max = ±8·2^-k, values on (or one ULP beside) half-integers of 2^-k
      const d = 2 ** (int(40) - 20);
      for (let j = 0; j < QK; j++) {
        const v = Math.fround((int(16) - 8 + 0.5) * d);
        x[j] = nextToward(v, int(3) - 1);
      }
      x[int(QK)] = (random() < 0.5 ? -8 : 8) * d;
      break;
    }
    case 3: // all zeros (Q4_0 stores d = -0)
      break;
    case 4: // a single non-zero, either sign
      x[int(QK)] = uniform() * 10 ** (int(11) - 5);
      break;
    case 5: {
      // Q8_0 near-ties: values one ULP either side of (n + ½)·d
      const d = 2 ** (int(20) - 10);
      for (let j = 0; j < QK; j++) x[j] = nextToward(Math.fround((int(254) - 127 + 0.5) * d), random() < 0.5 ? -1 : 1);
      x[int(QK)] = 127 * d;
      break;
    }
    case 6: {
      // the largest magnitude twice with both signs: which comes first decides Q4_0's sign
      for (let j = 0; j < QK; j++) x[j] = uniform();
      const a = 1 + random();
      x[int(QK / 2)] = -a;
      x[QK / 2 + int(QK / 2)] = a;
      if (random() < 0.5) x.reverse();
      break;
    }
    case 7: {
      // values whose scaled x·id sits within a few ULPs of a rounding boundary (n + ½), for the
      // Q8_0 id (even j) or the Q4_0 one (odd j): an id off by one ULP (inexact division) flips them.
      const a = Math.fround((1 + random()) * 2 ** (int(40) - 20)); // the block's maximum, at j = 0
      const id8 = Math.fround(1 / Math.fround(a / 127));
      const id4 = Math.fround(8 / a); // |1/(a/−8)|
      x[0] = a;
      for (let j = 1; j < QK; j++) {
        const half = (j % 2 ? int(8) : int(127)) + 0.5;
        const v = Math.fround(half / (j % 2 ? id4 : id8)) * (random() < 0.5 ? -1 : 1);
        x[j] = Math.abs(v) < a ? nextToward(v, int(3) - 1) : v;
      }
      break;
    }
    case 8: {
      // d exactly halfway between two f16 values (normal or subnormal): f16 rounding ties to even
      const t =
        random() < 0.5
          ? (2048 + 2 * int(1024) + 1) * 2 ** (int(30) - 25) // 12 significant bits, normal f16 range
          : (2 * int(512) + 1) * 2 ** -25; // halfway between two subnormal f16
      for (let j = 0; j < QK; j++) x[j] = uniform() * t;
      x[int(QK)] = (random() < 0.5 ? 127 : -8) * t * (random() < 0.5 ? -1 : 1); // Q8_0's amax or Q4_0's max
      break;
    }
    default: // mixed magnitudes inside one block: random exponents over 2^-40 … 2^20
      for (let j = 0; j < QK; j++) x[j] = uniform() * 2 ** (int(61) - 40);
  }
  return x;
}
const KINDS = 10;

/** The float32 `steps` ULPs away from v (steps ∈ {-1, 0, 1}), toward larger magnitude for +1. */
function nextToward(v: number, steps: number): number {
  if (steps === 0 || v === 0) return v;
  const f = new Float32Array([v]);
  new Uint32Array(f.buffer)[0] += steps;
  return f[0];
}

function randomMatrix(rows: number, cols: number, random: () => number): Float32Array {
  const x = new Float32Array(rows * cols);
  for (let b = 0; b < (rows * cols) / QK; b++) x.set(block(Math.floor(random() * KINDS), random), b * QK);
  return x;
}

async function readBytes(ctx: GpuContext, w: Weight): Promise<Uint8Array> {
  return new Uint8Array((await ctx.read(w.data)).buffer);
}

/** First differing byte as a readable message (block, offset, the block's inputs), or null. */
function firstDifference(got: Uint8Array, want: Uint8Array, blockBytes: number, x: Float32Array): string | null {
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const b = Math.floor(i / blockBytes);
      return `block ${b} byte ${i % blockBytes}: got ${got[i]} want ${want[i]}; inputs ${Array.from(x.subarray(b * QK, (b + 1) * QK))}`;
    }
  }
  return null;
}

// [rows, cols]: single blocks, odd block counts (the last invocation encodes one block and the padding),
// stories260K (dim 64, hidden 172 → not a multiple of 32, so 64-wide rows), SmolLM2-135M slices (576, 1536).
const SHAPES: [number, number][] = [
  [1, 32],
  [3, 32],
  [7, 96],
  [172, 64],
  [33, 576],
  [5, 1536],
  [1001, 576],
];

// Tolerance: none. The encoders are defined by float32 arithmetic that the shader reproduces exactly
// (correctly rounded ×, +, emulated division and roundf), so any differing byte is a bug.
describe(`quantizeWeight byte-exact with ggml's reference encoders (seed ${seed})`, () => {
  for (const type of ['q8_0', 'q4_0'] as QuantType[]) {
    for (const [rows, cols] of SHAPES) {
      it(`${type} [${rows}, ${cols}]`, async () => {
        const ctx = await gpu();
        const x = randomMatrix(rows, cols, rng(seed + rows * 31 + cols));
        const tx = ctx.upload(x, [rows, cols]);
        const w = quantizeWeight(ctx, tx, rows, cols, type);
        expect([w.type, w.rows, w.cols]).toEqual([type, rows, cols]);
        const got = await readBytes(ctx, w);
        const n = weightBytes(type, rows, cols);
        expect(got.length).toBe(Math.ceil(n / 4) * 4);
        expect(firstDifference(got, quantize(type, x), n / ((rows * cols) / QK), x)).toBeNull();
        expect(Array.from(got.subarray(n))).toEqual(new Array(got.length - n).fill(0)); // padding zeroed
        tx.release();
        w.data.release();
      });
    }
  }

  it('Q4_0 of an all-zero block stores d = -0 (0x8000) and nibbles 8', async () => {
    const ctx = await gpu();
    const tx = ctx.upload(new Float32Array(64), [1, 64]);
    const w = quantizeWeight(ctx, tx, 1, 64, 'q4_0');
    const got = await readBytes(ctx, w);
    expect(Array.from(got.subarray(0, 18))).toEqual([0x00, 0x80, ...new Array(16).fill(0x88)]);
    tx.release();
    w.data.release();
  });

  it('rejects rows that are not whole blocks', async () => {
    const ctx = await gpu();
    expect(() => quantizeWeight(ctx, ctx.tensor([2, 40]), 2, 40, 'q8_0')).toThrow(/multiple of 32/);
  });
});

/** Random k-quant bytes with every f16 scale finite (exponent < 31); every 4th block from the second on
 *  has subnormal scales, which a decoder that flushes them would get wrong. */
function randomKBytes(type: KQuantType, blocks: number, random: () => number): Uint8Array {
  const bytes = Uint8Array.from({ length: blocks * K_BLOCK_BYTES[type] }, () => Math.floor(random() * 256));
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < blocks; b++) {
    const half = () => {
      const h = Math.floor(random() * 0x10000);
      if (b % 4 === 1) return h & 0x83ff; // exponent 0: subnormal
      return (h & 0x7c00) === 0x7c00 ? h & ~0x4000 : h;
    };
    const base = b * K_BLOCK_BYTES[type];
    if (type === 'q4_k') {
      view.setUint16(base, half(), true);
      view.setUint16(base + 2, half(), true);
    } else {
      view.setUint16(base + 208, half(), true);
    }
  }
  return bytes;
}

function uploadBytes(ctx: GpuContext, bytes: Uint8Array) {
  const words = new Uint32Array(Math.ceil(bytes.length / 4));
  new Uint8Array(words.buffer).set(bytes);
  return ctx.upload(words, [words.length], 'u32');
}

// Tolerance: none, bit for bit (sign of zero included). Every product in ggml's decoders is exact in
// float32 (f16 d: 11 bits × 6-bit scale × 4-bit quant for Q4_K; × int8 scale × 6-bit quant ≤ 23 bits for
// Q6_K), and Q4_K's one rounding, d1·q − m1, is a single correctly rounded subtraction on both sides.
describe(`dequantizeK bit-exact with ggml's dequantize_row_q4_K / q6_K (seed ${seed})`, () => {
  for (const type of ['q4_k', 'q6_k'] as KQuantType[]) {
    // 144 blocks: a 576 × 64 matrix (SmolLM2's dim); odd counts put the 210-byte Q6_K blocks at every alignment.
    for (const blocks of [1, 2, 7, 144]) {
      it(`${type} × ${blocks} blocks`, async () => {
        const ctx = await gpu();
        const bytes = randomKBytes(type, blocks, rng(seed + blocks * 5 + (type === 'q4_k' ? 0 : 1)));
        const n = blocks * QK_K;
        expect(kQuantBytes(type, n)).toBe(bytes.length);
        const tb = uploadBytes(ctx, bytes);
        const out = dequantizeK(ctx, tb, type, n);
        const got = new Uint32Array((await ctx.read(out)).buffer);
        const want = new Uint32Array(Float32Array.from(dequantizeKRef(bytes, type, n)).buffer);
        const bad = got.findIndex((g, i) => g !== want[i]);
        expect(bad === -1 ? null : { index: bad, got: got[bad].toString(16), want: want[bad].toString(16) }).toBeNull();
        tb.release();
        out.release();
      });
    }
  }

  it('decodes known Q4_K and Q6_K blocks', () => {
    // Q4_K: d = 1, dmin = 0.5, scale/min 0 = (3, 2) → x = 3·q − 1 for the first 32 low nibbles.
    const q4 = new Uint8Array(144);
    const v4 = new DataView(q4.buffer);
    v4.setUint16(0, f32ToF16(1), true);
    v4.setUint16(2, f32ToF16(0.5), true);
    q4[4] = 3;
    q4[8] = 2;
    q4[16] = 0x75; // low nibble 5 → x[0] = 14; high nibble 7 → x[32], sub-block 1 (scale and min 0) → 0
    const x4 = dequantizeKRef(q4, 'q4_k', 256);
    expect([x4[0], x4[1], x4[32]]).toEqual([14, -1, 0]);
    // Q6_K: d = 2, scales[0] = -3; value 0 = ((ql & 15) | (qh & 3) << 4) − 32 = (1 | 2 << 4) − 32 = 1.
    const q6 = new Uint8Array(210);
    new DataView(q6.buffer).setUint16(208, f32ToF16(2), true);
    q6[192] = 0xfd; // int8 −3
    q6[0] = 1;
    q6[128] = 2;
    const x6 = dequantizeKRef(q6, 'q6_k', 256);
    expect([x6[0], x6[1]]).toEqual([-6, 2 * -3 * -32]);
  });
});

// Tolerance: none. Both stages are exact (above), so the GPU chain must equal ggml's CPU chain byte for byte.
describe(`requantize Q4_K / Q6_K → Q8_0 / Q4_0 (seed ${seed})`, () => {
  for (const type of ['q4_k', 'q6_k'] as KQuantType[]) {
    for (const to of ['q8_0', 'q4_0'] as QuantType[]) {
      it(`${type} → ${to} [3, 512]`, async () => {
        const ctx = await gpu();
        const [rows, cols] = [3, 512];
        const bytes = randomKBytes(type, (rows * cols) / QK_K, rng(seed + 99));
        const tb = uploadBytes(ctx, bytes);
        const w = requantize(ctx, tb, type, rows, cols, to);
        const got = await readBytes(ctx, w);
        const values = Float32Array.from(dequantizeKRef(bytes, type, rows * cols));
        const want = quantize(to, values);
        expect(firstDifference(got, want, want.length / ((rows * cols) / QK), values)).toBeNull();
        tb.release();
        w.data.release();
      });
    }
  }
});
