// Elementwise add and scale (out of place and in place) against the float64 reference.
//
// Tolerance: WGSL's f32 + and × are correctly rounded, and the inputs are exact f32 values, so every result
// is the float64 value rounded once: |Δ| ≤ u·|y| with u = 2⁻²⁴ (plus 0 for exact zeros). A wrong index or a
// missed element is off by O(1).

import { describe, expect, it } from 'vitest';
import { add, addInPlace, scale, scaleInPlace } from '../../src/ops/elementwise';
import { addRef, scaleRef } from '../../src/reference/elementwise';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const seed = freshSeed();

// Lengths: 1, around the workgroup (64), SmolLM2's T·D for 5 tokens, and just past 65535 workgroups of 64
// so the grid folds into a second dimension (maxComputeWorkgroupsPerDimension is 65535 by default).
const LENGTHS = [1, 63, 64, 65, 1000, 5 * 576, 65535 * 64 + 100];

describe(`elementwise vs float64 reference (seed ${seed})`, () => {
  for (const n of LENGTHS) {
    it(`n=${n}: add, addInPlace, scale, scaleInPlace`, async () => {
      const ctx = await gpu();
      const random = rng(seed + n);
      const a = randomF32(n, random);
      const b = randomF32(n, random);
      const s = Math.fround(-3 * random()); // the uniform holds s as f32
      const [ta, tb] = [ctx.upload(a, [n]), ctx.upload(b, [n])];
      const sum = addRef(a, b);
      const scaled = scaleRef(a, s);
      const bound = (y: ArrayLike<number>) => (i: number) => U * Math.abs(y[i]);

      const ty = add(ctx, ta, tb);
      expect(mismatches(await ctx.read(ty), sum, bound(sum))).toEqual([]);
      const tz = scale(ctx, ta, s);
      expect(mismatches(await ctx.read(tz), scaled, bound(scaled))).toEqual([]);
      scaleInPlace(ctx, ty, s); // ty = s·(a + b): check the in-place scale on a fresh input
      const want = scaleRef(Float32Array.from(sum), s);
      expect(mismatches(await ctx.read(ty), want, bound(want))).toEqual([]);
      addInPlace(ctx, ta, tb);
      expect(mismatches(await ctx.read(ta), sum, bound(sum))).toEqual([]);
      [ta, tb, ty, tz].forEach((t) => t.release());
    });
  }

  it('rejects a second operand shorter than the first', async () => {
    const ctx = await gpu();
    expect(() => add(ctx, ctx.tensor([4]), ctx.tensor([3]))).toThrow(/3 elements, needs 4/);
    expect(() => addInPlace(ctx, ctx.tensor([4]), ctx.tensor([3]))).toThrow(/3 elements, needs 4/);
  });
});
