// rope forward and backward (in place) against the float64 reference, and the reference backward against
// finite differences of the reference forward.
//
// Tolerance per rotated pair (a, b), u = 2⁻²⁴:
//   |Δy| ≤ (|a| + |b|) · (3u·|θ| + 2u + E_sc + 3u)
// - 3u·|θ|: the f32 angle; inv_freq is rounded once to f32, the division by the factor and the product
//   pos·freq each round once (relative u). This is inherent to an f32 angle and dominates at long positions;
// - 2u: the Cody–Waite reduction by π/2 (two roundings of a result ≤ π/4; the split constant is exact to
//   1e-15, i.e. < 1e-11 rad even at k = 10⁴);
// - E_sc = 4u: the kernel's own sin/cos polynomials on [−π/4, π/4] (Cephes, ≤ 2 ULP, plus evaluation).
//   WGSL's builtins would need 2⁻¹¹ here: SwiftShader's really are off by ~2⁻¹², so this bound also checks
//   that the kernel does not use them;
// - 3u: the products and the sum of the rotation itself.
// A wrong pairing, position, head offset or sign moves values by O(|a| + |b|), far above the bound.

import { describe, expect, it } from 'vitest';
import { type RopeOptions, type RopePairing, rope, ropeBackward } from '../../src/ops/rope';
import { type RopeRefOptions, ropeBackwardRef, ropeRef } from '../../src/reference/rope';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const E_SC = 4 * U;
const seed = freshSeed();

interface Case {
  name: string;
  T: number;
  /** q's heads and k's (rotated together, in one dispatch). */
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  theta: number;
  /** Positions reach about this value. */
  maxPos: number;
  factors?: boolean;
}

const CASES: Case[] = [
  { name: 'single token at position 0', T: 1, nHeads: 1, nKvHeads: 1, headDim: 2, theta: 10000, maxPos: 0 },
  { name: 'stories260K (8 + 4 heads of 8)', T: 9, nHeads: 8, nKvHeads: 4, headDim: 8, theta: 10000, maxPos: 255 },
  {
    name: 'SmolLM2-135M (9 + 3 heads of 64)',
    T: 6,
    nHeads: 9,
    nKvHeads: 3,
    headDim: 64,
    theta: 100000,
    maxPos: 2047,
  },
  {
    name: 'odd head counts and head dim 6',
    T: 13,
    nHeads: 3,
    nKvHeads: 1,
    headDim: 6,
    theta: 10000,
    maxPos: 4000,
  },
  {
    name: 'Llama-3 style rope_freqs (2 + 2 heads of 128)',
    T: 5,
    nHeads: 2,
    nKvHeads: 2,
    headDim: 128,
    theta: 500000,
    maxPos: 8000,
    factors: true,
  },
  {
    name: 'many tokens (grid of many workgroups)',
    T: 700,
    nHeads: 2,
    nKvHeads: 1,
    headDim: 4,
    theta: 10000,
    maxPos: 3000,
  },
];

/** Two sequences packed into one batch: positions restart at 0, the second at a random offset. */
function positions(T: number, maxPos: number, random: () => number): Uint32Array {
  const split = Math.floor(T / 2);
  const start = Math.floor(random() * Math.max(0, maxPos - (T - split)));
  return Uint32Array.from({ length: T }, (_, t) => (t < split ? t : start + (t - split)));
}

/** The per-element bound of the header, from the reference's own angles. */
function bounds(x: ArrayLike<number>, pos: ArrayLike<number>, o: RopeRefOptions): Float64Array {
  const { T, nHeads, headDim: d } = o;
  const out = new Float64Array(T * nHeads * d);
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (t * nHeads + h) * d;
      for (let j = 0; j < d / 2; j++) {
        const angle = (pos[t] * o.theta ** ((-2 * j) / d)) / (o.freqFactors ? o.freqFactors[j] : 1);
        const [i0, i1] = o.pairing === 'half' ? [base + j, base + j + d / 2] : [base + 2 * j, base + 2 * j + 1];
        const b = (Math.abs(x[i0]) + Math.abs(x[i1])) * (3 * U * angle + 2 * U + E_SC + 3 * U) + 1e-30;
        out[i0] = out[i1] = b;
      }
    }
  }
  return out;
}

describe(`rope vs float64 reference (seed ${seed})`, () => {
  for (const c of CASES) {
    for (const pairing of ['half', 'adjacent'] as RopePairing[]) {
      it(`${c.name}, ${pairing} pairing: forward, backward, round trip`, async () => {
        const ctx = await gpu();
        const random = rng(seed + c.T * 31 + c.nHeads * 7 + c.headDim + (pairing === 'half' ? 0 : 1));
        const { T, headDim, theta } = c;
        const heads = [c.nHeads, c.nKvHeads];
        const x = heads.map((h) => randomF32(T * h * headDim, random));
        const dy = heads.map((h) => randomF32(T * h * headDim, random));
        const pos = positions(T, c.maxPos, random);
        const factors = c.factors ? Float32Array.from({ length: headDim / 2 }, () => 1 + 7 * random()) : undefined;
        const refs = heads.map((nHeads): RopeRefOptions => ({
          T,
          nHeads,
          headDim,
          theta,
          pairing,
          freqFactors: factors,
        }));
        const tpos = ctx.upload(pos, [T], 'u32');
        const tf = factors ? ctx.upload(factors, [headDim / 2]) : undefined;
        const o: RopeOptions = { T, nHeads: c.nHeads, nKvHeads: c.nKvHeads, headDim, theta, pairing, freqFactors: tf };
        const upload = (v: Float32Array[]) => v.map((a, i) => ctx.upload(a, [T, heads[i] * headDim]));

        const [tq, tk] = upload(x);
        rope(ctx, tq, tk, tpos, o);
        const [tdq, tdk] = upload(dy);
        ropeBackward(ctx, tdq, tdk, tpos, o);
        for (const [i, [t, td]] of [
          [tq, tdq],
          [tk, tdk],
        ].entries()) {
          const bx = bounds(x[i], pos, refs[i]);
          expect(mismatches(await ctx.read(t), ropeRef(x[i], pos, refs[i]), (j) => bx[j])).toEqual([]);
          const bdy = bounds(dy[i], pos, refs[i]);
          expect(mismatches(await ctx.read(td), ropeBackwardRef(dy[i], pos, refs[i]), (j) => bdy[j])).toEqual([]);
        }

        // Backward undoes forward: the two rotations' errors add, each bounded as above (|y| pairs ≤ √2·|x|).
        ropeBackward(ctx, tq, tk, tpos, o);
        for (const [i, t] of [tq, tk].entries()) {
          const bx = bounds(x[i], pos, refs[i]);
          expect(mismatches(await ctx.read(t), x[i], (j) => 3 * bx[j])).toEqual([]);
        }
        [tq, tk, tdq, tdk, tpos, ...(tf ? [tf] : [])].forEach((t) => t.release());
      });
    }
  }

  it('rejects an odd head dimension and undersized inputs', async () => {
    const ctx = await gpu();
    const pos = ctx.upload(new Uint32Array([0, 1]), [2], 'u32');
    const base = { T: 2, nHeads: 1, nKvHeads: 1, theta: 10000, pairing: 'half' as const };
    const [q, k] = [ctx.tensor([2, 3]), ctx.tensor([2, 4])];
    expect(() => rope(ctx, q, k, pos, { ...base, headDim: 3 })).toThrow(/even/);
    expect(() => rope(ctx, q, k, pos, { ...base, headDim: 4 })).toThrow(/q has 6 elements, needs 8/);
    expect(() => rope(ctx, k, q, pos, { ...base, headDim: 4 })).toThrow(/k has 6 elements, needs 8/);
    expect(() => rope(ctx, k, k, pos, { ...base, headDim: 4 })).toThrow(/separate/);
  });
});

describe(`rope reference backward vs finite differences (seed ${seed})`, () => {
  for (const pairing of ['half', 'adjacent'] as RopePairing[]) {
    it(`${pairing} pairing, 3 heads of 8, factors`, () => {
      const random = rng(seed + 5);
      const [T, nHeads, headDim] = [4, 3, 8];
      const x = randomF32(T * nHeads * headDim, random);
      const proj = randomF32(T * nHeads * headDim, random); // L = Σ proj·y, so dy = proj
      const pos = Uint32Array.from([0, 1, 17, 3000]);
      const o: RopeRefOptions = { T, nHeads, headDim, theta: 10000, pairing, freqFactors: [1, 2, 4.5, 8] };
      const numeric = numericGrad((xs) => dot(proj, ropeRef(xs, pos, o)), x);
      // RoPE is linear in x, so central differences have no truncation error: only float64 rounding
      // (~1e-16·|L|/h with h = 1e-6), while a wrong transpose is off by O(1).
      expect(mismatches(numeric, ropeBackwardRef(proj, pos, o), () => 1e-8)).toEqual([]);
    });
  }
});
