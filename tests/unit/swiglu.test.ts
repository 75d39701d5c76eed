// swiglu forward and backward against the float64 reference, and the reference backward against finite
// differences of the reference forward.
//
// Tolerances (u = 2⁻²⁴): WGSL's exp is within 3 + 2|x| ULP (≤ (6 + 4|x|)·u relative), 1 + e adds u and the
// division 2.5 ULP (5u), so σ(g) has relative error ε_σ ≤ (12 + 4|g|)·u. Then
// - h = g·σ·u and du = dh·g·σ: two more roundings, |Δ| ≤ |value|·(ε_σ + 2u);
// - dg = dh·u·σ·(1 + g·(1 − σ)): the kernel's 1 − σ is relative-accurate to 2ε_σ + 2u (no cancellation, see
//   the shader), but 1 + g·(1 − σ) cancels near silu's minimum (g ≈ −1.28), so its absolute error is
//   |g|·(1 − σ)·(2ε_σ + 3u) + u; with the outer products, |Δdg| ≤ |dh·u|·σ·((1 + |g|(1 − σ))·(ε_σ + 4u) +
//   |g|(1 − σ)·(2ε_σ + 3u)).
// A wrong formula or index is off by O(|value|); 1e-30 absolute lets exact zeros compare.

import { describe, expect, it } from 'vitest';
import { swiglu, swigluBackward } from '../../src/ops/swiglu';
import { swigluBackwardRef, swigluRef } from '../../src/reference/swiglu';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const seed = freshSeed();
const epsSigma = (g: number) => (12 + 4 * Math.abs(g)) * U;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// [T, F]: one token, stories260K's hidden 172, SmolLM2's 1536, a length off the workgroup (64) multiples.
const SIZES: [number, number][] = [
  [1, 1],
  [1, 172],
  [5, 172],
  [3, 1536],
  [7, 65],
  [40, 1536],
];

function inputs(n: number, salt: number) {
  const random = rng(seed + n + salt);
  // Gates mostly in [−8, 8] (silu's interesting range), a few saturated ones to check the limits.
  const g = randomF32(n, random).map((v) => v * 8);
  for (let i = 0; i < n; i += 17) g[i] = [-100, 100, 0, -1.278][(i / 17) % 4];
  return { g, u: randomF32(n, random), dh: randomF32(n, random), random };
}

describe(`swiglu vs float64 reference (seed ${seed})`, () => {
  for (const [T, F] of SIZES) {
    it(`forward and backward T=${T} F=${F}`, async () => {
      const ctx = await gpu();
      const n = T * F;
      const { g, u, dh } = inputs(n, 1);
      const [tg, tu, tdh] = [ctx.upload(g, [T, F]), ctx.upload(u, [T, F]), ctx.upload(dh, [T, F])];
      const th = swiglu(ctx, tg, tu);
      const grads = swigluBackward(ctx, tdh, tg, tu);
      const [h, dg, du] = [await ctx.read(th), await ctx.read(grads.dg), await ctx.read(grads.du)];

      const wantH = swigluRef(g, u);
      expect(mismatches(h, wantH, (i) => Math.abs(wantH[i]) * (epsSigma(g[i]) + 2 * U) + 1e-30)).toEqual([]);
      const want = swigluBackwardRef(dh, g, u);
      expect(mismatches(du, want.du, (i) => Math.abs(want.du[i]) * (epsSigma(g[i]) + 2 * U) + 1e-30)).toEqual([]);
      expect(
        mismatches(dg, want.dg, (i) => {
          const s = sigmoid(g[i]);
          const e = epsSigma(g[i]);
          const t = Math.abs(g[i]) * (1 - s);
          return Math.abs(dh[i] * u[i]) * s * ((1 + t) * (e + 4 * U) + t * (2 * e + 3 * U)) + 1e-30;
        }),
      ).toEqual([]);
      [tg, tu, tdh, th, grads.dg, grads.du].forEach((t) => t.release());
    });
  }

  it('writes into given outputs and rejects short inputs', async () => {
    const ctx = await gpu();
    const [tg, tu] = [ctx.upload(new Float32Array([1, -2]), [2]), ctx.upload(new Float32Array([3, 4]), [2])];
    const out = ctx.tensor([2]);
    expect(swiglu(ctx, tg, tu, out)).toBe(out);
    expect(() => swiglu(ctx, tg, ctx.tensor([1]))).toThrow(/u has 1 elements, needs 2/);
  });
});

describe(`swiglu reference backward vs finite differences (seed ${seed})`, () => {
  it('dg and du of L = Σ proj·h', () => {
    const n = 40;
    const { g, u, random } = inputs(n, 2);
    for (let i = 0; i < n; i += 17) g[i] = 3 * random() - 1.5; // keep |g| moderate: finite differences at ±100 say nothing
    const proj = randomF32(n, random);
    const { dg, du } = swigluBackwardRef(proj, g, u);
    const numG = numericGrad((gs) => dot(proj, swigluRef(gs, u)), g);
    const numU = numericGrad((us) => dot(proj, swigluRef(g, us)), u);
    // Float64 central differences with h = 1e-6: rounding ~1e-16·|L|/h ≈ 1e-9, truncation h²·|silu'''| ≈ 1e-12;
    // a wrong derivative is off by O(0.1..1).
    expect(mismatches(numG, dg, () => 1e-7)).toEqual([]);
    expect(mismatches(numU, du, () => 1e-7)).toEqual([]);
  });
});
