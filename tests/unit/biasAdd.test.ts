// The bias add y[t, n] += b[n] against the float64 reference.
//
// Tolerance: one correctly rounded f32 addition of exact f32 inputs, so |Δ| ≤ u·|y| with u = 2⁻²⁴; a wrong
// column (i mod N) or a missed row is off by O(1).

import { describe, expect, it } from 'vitest';
import { biasAdd } from '../../src/ops/biasAdd';
import { biasAddRef } from '../../src/reference/biasAdd';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const seed = freshSeed();

// [T, N]: one element; N not a multiple of the workgroup; Qwen2-0.5B's K/V width (128) for 7 tokens; its Q
// width (896); and T·N just past 65535 workgroups of 64 so the grid folds into a second dimension.
const SIZES: [number, number][] = [
  [1, 1],
  [5, 67],
  [7, 128],
  [3, 896],
  [65535 + 17, 64],
];

describe(`biasAdd vs float64 reference (seed ${seed})`, () => {
  for (const [T, N] of SIZES) {
    it(`T=${T}, N=${N}`, async () => {
      const ctx = await gpu();
      const random = rng(seed + T * 1000 + N);
      const y = randomF32(T * N, random);
      const b = randomF32(N, random);
      const ty = ctx.upload(y, [T, N]);
      const tb = ctx.upload(b, [N]);
      expect(biasAdd(ctx, ty, tb, T)).toBe(ty);
      const want = biasAddRef(y, b, T);
      expect(mismatches(await ctx.read(ty), want, (i) => U * Math.abs(want[i]))).toEqual([]);
      [ty, tb].forEach((t) => t.release());
    });
  }

  it('rejects an output with fewer than T·N elements', async () => {
    const ctx = await gpu();
    expect(() => biasAdd(ctx, ctx.tensor([2, 4]), ctx.tensor([4]), 3)).toThrow(/8 elements, needs 3×4 = 12/);
  });
});
