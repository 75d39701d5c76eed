// rmsnorm forward and backward against the float64 reference, and the reference backward against finite
// differences of the reference forward.
//
// Tolerances (u = 2⁻²⁴, γ_n = n·u/(1 − n·u)), derived from the kernels' operation order:
// - the row's sum of squares has only positive terms, so its relative error is ≤ γ_D; the division by D,
//   the + eps and inverseSqrt (2 ULP = 4u, WGSL spec) give rrms a relative error ε_r ≤ γ_D/2 + 6u;
// - y = x·r·w adds two roundings: |Δy| ≤ |y|·(ε_r + 2u);
// - dx = r·w·dy − c·x with c = r³·S/D, S = Σ dy·w·x: S has absolute error γ_{D+1}·Σ|dy·w·x| (it may cancel),
//   r³ relative 3ε_r, plus a few roundings per product and the final subtraction.
// Any indexing bug (a wrong row, weight or missing term) is of the order of the values themselves.

import { describe, expect, it } from 'vitest';
import { rmsnorm, rmsnormBackward } from '../../src/ops/rmsnorm';
import { rmsnormBackwardRef, rmsnormRef } from '../../src/reference/rmsnorm';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const seed = freshSeed();

// [T, D]: single tokens, D below / not a multiple of the workgroup (64), stories260K (64), its hidden size
// (172), SmolLM2-135M (576) and its FFN width (1536), and many rows.
const SIZES: [number, number][] = [
  [1, 1],
  [1, 64],
  [3, 5],
  [5, 172],
  [4, 576],
  [2, 1536],
  [257, 64],
  [33, 65],
];

function inputs(T: number, D: number, salt: number) {
  const random = rng(seed + 1000 * T + D + salt);
  const amp = 0.01 + 10 * random(); // rows far from unit scale exercise eps and the normalisation
  const x = randomF32(T * D, random).map((v) => v * amp);
  const w = randomF32(D, random);
  const dy = randomF32(T * D, random);
  return { x, w, dy, random };
}

// The CPU adapter's workgroup size (16) and the GPUs' (64): both run here, whichever adapter this is.
const WORKGROUP_SIZES = [16, 64];

describe(`rmsnorm vs float64 reference (seed ${seed})`, () => {
  for (const [T, D] of SIZES)
    for (const workgroupSize of WORKGROUP_SIZES) {
      it(`forward T=${T} D=${D} workgroup ${workgroupSize}`, async () => {
        const ctx = await gpu();
        const { x, w } = inputs(T, D, 1);
        const eps = 1e-5;
        const tx = ctx.upload(x, [T, D]);
        const tw = ctx.upload(w, [D]);
        const { y, rrms } = rmsnorm(ctx, tx, tw, { T, D, eps, workgroupSize });
        const [gy, gr] = [await ctx.read(y), await ctx.read(rrms)];
        const want = rmsnormRef(x, w, { T, D, eps });
        const epsR = gamma(D) / 2 + 6 * U;
        // Bounds from the header: relative, plus 1e-30 so exact zeros compare.
        expect(mismatches(gr, want.rrms, (t) => epsR * want.rrms[t] + 1e-30)).toEqual([]);
        expect(mismatches(gy, want.y, (i) => (epsR + 2 * U) * Math.abs(want.y[i]) + 1e-30)).toEqual([]);
        [tx, tw, y, rrms].forEach((t) => t.release());
      });

      for (const accumulate of [false, true]) {
        it(`backward T=${T} D=${D} workgroup ${workgroupSize} accumulate=${accumulate}`, async () => {
          const ctx = await gpu();
          const { x, w, dy, random } = inputs(T, D, 2);
          const eps = 1e-6;
          const dx0 = randomF32(T * D, random);
          const [tx, tw, tdy] = [ctx.upload(x, [T, D]), ctx.upload(w, [D]), ctx.upload(dy, [T, D])];
          const fwd = rmsnorm(ctx, tx, tw, { T, D, eps, workgroupSize });
          const tdx = accumulate ? ctx.upload(dx0, [T, D]) : undefined;
          const dx = rmsnormBackward(ctx, tdy, tx, tw, fwd.rrms, { T, D, workgroupSize }, { accumulate }, tdx);
          const got = await ctx.read(dx);
          const ref = rmsnormRef(x, w, { T, D, eps });
          const want = rmsnormBackwardRef(dy, x, w, ref.rrms, { T, D });
          // Bound from the header; the GPU backward uses the GPU forward's rrms, so ε_r enters as well.
          const epsR = gamma(D) / 2 + 6 * U;
          const bound = new Float64Array(T * D);
          for (let t = 0; t < T; t++) {
            const r = ref.rrms[t];
            let absS = 0;
            let S = 0;
            for (let i = 0; i < D; i++) {
              absS += Math.abs(dy[t * D + i] * w[i] * x[t * D + i]);
              S += dy[t * D + i] * w[i] * x[t * D + i];
            }
            for (let j = 0; j < D; j++) {
              const i = t * D + j;
              const a = Math.abs(r * w[j] * dy[i]);
              const b = (Math.abs(x[i]) * r ** 3) / D;
              bound[i] =
                a * (epsR + 3 * U) +
                b * (absS * gamma(D + 1) + Math.abs(S) * (3 * epsR + 4 * U)) +
                2 * U * (Math.abs(want[i]) + (accumulate ? Math.abs(dx0[i]) : 0)) +
                1e-30;
            }
          }
          const expected = accumulate ? Array.from(want, (v, i) => v + dx0[i]) : want;
          expect(mismatches(got, expected, (i) => bound[i])).toEqual([]);
          [tx, tw, tdy, dx, fwd.y, fwd.rrms].forEach((t) => t.release());
        });
      }
    }

  it('rejects a workgroup size that is not a power of two', async () => {
    const ctx = await gpu();
    expect(() =>
      rmsnorm(ctx, ctx.tensor([1, 4]), ctx.tensor([4]), { T: 1, D: 4, eps: 1e-5, workgroupSize: 24 }),
    ).toThrow(/power of two/);
  });
});

describe(`rmsnorm reference backward vs finite differences (seed ${seed})`, () => {
  for (const [T, D] of [
    [1, 1],
    [2, 7],
    [3, 64],
    [1, 172],
  ] as [number, number][]) {
    it(`T=${T} D=${D}`, () => {
      const { x, w, random } = inputs(T, D, 3);
      const eps = 1e-5;
      const proj = randomF32(T * D, random); // L = Σ proj·y, so dy = proj
      const f = (xs: Float64Array) => dot(proj, rmsnormRef(xs, w, { T, D, eps }).y);
      const numeric = numericGrad(f, x);
      const analytic = rmsnormBackwardRef(proj, x, w, rmsnormRef(x, w, { T, D, eps }).rrms, { T, D });
      // Central differences in float64 with h = 1e-6: rounding ~1e-16·|L|/h and truncation ~h²·|L'''|,
      // both far below 1e-6 for these O(1)..O(100) gradients; a wrong formula is off by O(|dx|).
      expect(mismatches(numeric, analytic, (i) => 1e-6 * (1 + Math.abs(analytic[i])))).toEqual([]);
    });
  }
});
