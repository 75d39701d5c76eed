// Embedding gather against the float64 reference, for every stored weight type.
//
// Tolerance: none, bit for bit. Each table value decodes exactly in f32 (an f32, an f16, or f16 d × an
// integer of ≤ 8 bits: ≤ 19 significant bits), and the gather only copies it, so the GPU must return
// exactly the reference's value (f16 subnormals included) for every in-range id and 0 for ids ≥ vocab.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { embedding } from '../../src/ops/embedding';
import { type WeightType, uploadWeight, weightBytes } from '../../src/ops/weight';
import { embeddingRef } from '../../src/reference/embedding';
import { BLOCK_BYTES, QK } from '../../src/io/quant';
import { gpu } from '../helpers/gpu';
import { freshSeed, rng } from '../helpers/random';

const seed = freshSeed();

/** Random finite f16 bits (subnormals included, Inf/NaN excluded). */
function finiteHalf(random: () => number): number {
  const h = Math.floor(random() * 0x10000);
  return (h & 0x7c00) === 0x7c00 ? h & ~0x4000 : h;
}

/** Random table bytes of a type: f32 values in [-1, 1), any finite f16, random quants with finite f16 d. */
function randomTable(type: WeightType, rows: number, cols: number, random: () => number): Uint8Array {
  const bytes = new Uint8Array(weightBytes(type, rows, cols));
  const view = new DataView(bytes.buffer);
  if (type === 'f32') {
    for (let i = 0; i < rows * cols; i++) view.setFloat32(4 * i, random() * 2 - 1, true);
  } else if (type === 'f16') {
    for (let i = 0; i < rows * cols; i++) view.setUint16(2 * i, finiteHalf(random), true);
  } else if (type === 'bf16') {
    // Any sign, any exponent but all-ones (Inf/NaN), any 7-bit mantissa: subnormals and zeros included.
    for (let i = 0; i < rows * cols; i++) view.setUint16(2 * i, Math.floor(random() * 0x10000) & 0xfeff, true);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
    const blockBytes = BLOCK_BYTES[type];
    for (let b = 0; b < (rows * cols) / QK; b++) view.setUint16(b * blockBytes, finiteHalf(random), true);
  }
  return bytes;
}

async function gather(
  ctx: GpuContext,
  type: WeightType,
  vocab: number,
  dim: number,
  ids: Uint32Array,
  bytes: Uint8Array,
) {
  const table = uploadWeight(ctx, type, vocab, dim, bytes);
  const tids = ctx.upload(ids, [ids.length], 'u32');
  const out = embedding(ctx, table, tids, ids.length);
  expect(out.shape).toEqual([ids.length, dim]);
  const got = await ctx.read(out);
  [table.data, tids, out].forEach((t) => t.release());
  return got;
}

// [vocab, dim, T]: stories260K (vocab 512, dim 64), a SmolLM2-135M slice (dim 576), dims that are not
// multiples of 64 or of the 64-invocation workgroup, and a single token. f32/f16 also get an odd dim (37).
const CASES: [number, number, number][] = [
  [512, 64, 33],
  [300, 576, 7],
  [97, 96, 65],
  [5, 128, 1],
];
const ODD_CASES: [number, number, number][] = [[61, 37, 19]];

describe(`embedding gather vs float64 reference (seed ${seed})`, () => {
  for (const type of ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'] as WeightType[]) {
    const cases = type === 'f32' || type === 'f16' || type === 'bf16' ? [...CASES, ...ODD_CASES] : CASES;
    for (const [vocab, dim, T] of cases) {
      it(`${type} vocab ${vocab} dim ${dim} T ${T}`, async () => {
        const ctx = await gpu();
        const random = rng(seed + vocab * 7 + dim * 3 + T);
        const bytes = randomTable(type, vocab, dim, random);
        // Ids cover the first and last rows, repeats, and (T > 1) one out-of-range id → a zero row.
        const ids = Uint32Array.from({ length: T }, () => Math.floor(random() * vocab));
        ids[0] = vocab - 1;
        if (T > 2) ids[1] = 0;
        if (T > 3) ids[T - 1] = vocab + Math.floor(random() * 1000);
        const got = await gather(ctx, type, vocab, dim, ids, bytes);
        const want = Float32Array.from(embeddingRef({ type, rows: vocab, cols: dim, bytes }, ids, T));
        const g = new Uint32Array(got.buffer);
        const w = new Uint32Array(want.buffer);
        const bad = g.findIndex((v, i) => v !== w[i]);
        expect(bad === -1 ? null : { index: bad, got: got[bad], want: want[bad] }).toBeNull();
        if (T > 3) expect(got.subarray((T - 1) * dim).every((v) => v === 0)).toBe(true);
      });
    }
  }

  it('rejects fewer ids than tokens', async () => {
    const ctx = await gpu();
    const table = uploadWeight(ctx, 'f32', 2, 4, new Uint8Array(32));
    expect(() => embedding(ctx, table, ctx.upload(new Uint32Array([0]), [1], 'u32'), 2)).toThrow(
      /2 tokens but only 1 ids/,
    );
  });
});
