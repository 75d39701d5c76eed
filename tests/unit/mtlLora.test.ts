// MTL-LoRA branch (mixing, forward, backward incl. the tempered-softmax gradient) against the float64 reference.
//
// Tolerances are forward-error bounds. A float32 chain whose longest accumulation path has K terms is within
// γ_K·(the same chain on |inputs|), γ_K = K·u/(1−K·u), u = 2⁻²⁴; the chain on |inputs| comes from the reference.
// The softmax adds WGSL's exp accuracy (3 + 2|x| ULP) and the rounding of w/τ, carried as a relative error of π
// into everything downstream. Accumulation and alpha add 2u·(|result| + |old value|). Any wrong, doubled or
// missing term costs about 1/K of the chain, far above these bounds.

import { describe, expect, it } from 'vitest';
import { type MtlLoraDims, type MtlLoraOptions, mtlLoraBackward, mtlLoraForward } from '../../src/ops/mtlLora';
import { mtlLoraBackwardRef, mtlLoraForwardRef } from '../../src/reference/mtlLora';
import { addBranchDx, addBranchOutput } from '../helpers/branch';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);
const abs = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, Math.abs);
const plus = (a: Float64Array, b: Float32Array) => a.map((v, i) => v + b[i]);
const seed = freshSeed();

/** got ≈ want within rel·chain + 2u·(|want| + |old|), elementwise. */
function within(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  chain: ArrayLike<number>,
  rel: number,
  old?: ArrayLike<number>,
) {
  return mismatches(
    got,
    want,
    (i) => rel * chain[i] + 2 * U * (Math.abs(want[i]) + Math.abs(old ? old[i] : 0)) + 1e-30,
  );
}

// [T, in, out, r, n, τ, dropout]: T = 1, 37, 300 (split-K over tokens), r = 1, 8, 16, a single B (n = 1).
const CASES: [number, number, number, number, number, number, number][] = [
  [1, 64, 64, 1, 1, 0.5, 0],
  [37, 172, 64, 8, 3, 0.1, 0.25],
  [300, 576, 192, 16, 4, 1, 0],
  [300, 64, 64, 8, 2, 0.3, 0.1],
  [37, 576, 192, 16, 3, 0.2, 0],
];

describe(`MTL-LoRA vs float64 reference (seed ${seed})`, () => {
  for (const [T, IN, OUT, r, n, tau, dropout] of CASES) {
    const d: MtlLoraDims = { T, in: IN, out: OUT, r, n };
    const o: MtlLoraOptions = { scale: 16 / r, tau, dropout, seed: (seed * 7 + T) >>> 0 };
    it(`forward and backward T=${T} in=${IN} out=${OUT} r=${r} n=${n} τ=${tau} dropout=${dropout}`, async () => {
      const ctx = await gpu();
      const random = rng(seed + T * 7 + IN * 13 + OUT * 17 + r * 19 + n);
      const x = randomF32(T * IN, random),
        A = randomF32(r * IN, random),
        lambda = randomF32(r * r, random);
      const Bs = randomF32(n * OUT * r, random),
        w = randomF32(n, random);
      const y0 = randomF32(T * OUT, random),
        dy = randomF32(T * OUT, random);
      const old = [r * IN, r * r, n * OUT * r, n, T * IN].map((k) => randomF32(k, random));
      const [tx, tA, tL, tBs, tw, ty, tdy] = [x, A, lambda, Bs, w, y0, dy].map((a) => ctx.upload(a, [a.length]));
      const [tdA, tdL, tdBs, tdw, tdx] = old.map((a) => ctx.upload(a, [a.length]));

      // Forward. π: exp accuracy at the largest |logit − max| plus the rounding of w/τ, the n-term sum, the division.
      const { saved, lowRank } = mtlLoraForward(ctx, tx, tA, tL, tBs, tw, d, o);
      addBranchOutput(ctx, lowRank, T, OUT, ty);
      const want = mtlLoraForwardRef(x, A, lambda, Bs, w, d, o, y0);
      const chain = mtlLoraForwardRef(abs(x), abs(A), abs(lambda), abs(Bs), w, d, o);
      const logits = Array.from(w, (v) => v / tau);
      const spread = Math.max(...logits) - Math.min(...logits);
      const relPi = (6 + 4 * spread + 4 * Math.max(...logits.map(Math.abs)) + n + 4) * U;
      const got = { h: await ctx.read(saved.h), z: await ctx.read(saved.z), pi: await ctx.read(saved.pi) };
      expect(within(got.pi, want.pi, want.pi, relPi)).toEqual([]);
      expect(within(await ctx.read(saved.bMix), want.bMix, chain.bMix, gamma(n + 1) + relPi)).toEqual([]);
      expect(within(got.h, want.h, chain.h, gamma(IN + 2))).toEqual([]);
      expect(within(got.z, want.z, chain.z, gamma(IN + r + 4))).toEqual([]);
      expect(within(await ctx.read(ty), want.y, chain.y, gamma(IN + 2 * r + n + 8) + relPi, y0)).toEqual([]);

      // Backward from the GPU's own activations, accumulating into random existing gradients.
      const part = mtlLoraBackward(ctx, tx, saved, tdy, tA, tL, tBs, d, o, {
        dA: tdA,
        dLambda: tdL,
        dBs: tdBs,
        dw: tdw,
        accumulate: true,
      });
      addBranchDx(ctx, part, T, IN, tdx);
      const g = mtlLoraBackwardRef(x, got, dy, A, lambda, Bs, d, o);
      const gAbs = mtlLoraBackwardRef(
        abs(x),
        { h: abs(got.h), z: abs(got.z), pi: got.pi },
        abs(dy),
        abs(A),
        abs(lambda),
        abs(Bs),
        d,
        o,
      );
      const [dA0, dL0, dBs0, dw0, dx0] = old;
      // dB^i = π_i·G: G sums T terms, times s, times π_i.
      expect(within(await ctx.read(tdBs), plus(g.dBs, dBs0), gAbs.dBs, gamma(T + 3), dBs0)).toEqual([]);
      // dw: dπ_i = ⟨B^i, G⟩ has T + out·r terms deep; the softmax backward subtracts Σπdπ, so its error is
      // absolute in the dπ (E_k below), scaled by π_j/τ, plus a few roundings of the difference.
      const E = Float64Array.from(gAbs.dpi, (v) => gamma(T + OUT * r + 4) * v);
      const mixE = got.pi.reduce((s, p, k) => s + p * (E[k] + 4 * U * Math.abs(g.dpi[k])), 0);
      const gotDw = await ctx.read(tdw);
      const wantDw = plus(g.dw, dw0);
      expect(
        mismatches(
          gotDw,
          wantDw,
          (j) =>
            (got.pi[j] / tau) * (E[j] + 4 * U * Math.abs(g.dpi[j]) + mixE) +
            2 * U * (Math.abs(wantDw[j]) + Math.abs(dw0[j])) +
            1e-30,
        ),
      ).toEqual([]);
      // dΛ: dz (out terms of B_mix, itself n terms) then T; dA: dz, dh (r), then T; dx: dz, dh, then r and the mask.
      expect(within(await ctx.read(tdL), plus(g.dLambda, dL0), gAbs.dLambda, gamma(T + OUT + n + 4), dL0)).toEqual([]);
      expect(within(await ctx.read(tdA), plus(g.dA, dA0), gAbs.dA, gamma(T + OUT + r + n + 6), dA0)).toEqual([]);
      expect(within(await ctx.read(tdx), plus(g.dx, dx0), gAbs.dx, gamma(OUT + 2 * r + n + 8), dx0)).toEqual([]);
      [tx, tA, tL, tBs, tw, ty, tdy, tdA, tdL, tdBs, tdw, tdx, saved.h, saved.z, saved.pi, saved.bMix].forEach((t) =>
        t.release(),
      );
    });
  }

  it('overwrites gradients without accumulate', async () => {
    const ctx = await gpu();
    const random = rng(seed + 3);
    const d: MtlLoraDims = { T: 37, in: 64, out: 64, r: 8, n: 3 };
    const o: MtlLoraOptions = { scale: 2, tau: 0.5 };
    const x = randomF32(d.T * d.in, random),
      A = randomF32(d.r * d.in, random),
      lambda = randomF32(d.r * d.r, random);
    const Bs = randomF32(d.n * d.out * d.r, random),
      w = randomF32(d.n, random),
      dy = randomF32(d.T * d.out, random);
    const [tx, tA, tL, tBs, tw, tdy] = [x, A, lambda, Bs, w, dy].map((a) => ctx.upload(a, [a.length]));
    const grads = [d.r * d.in, d.r * d.r, d.n * d.out * d.r, d.n].map((k) => ctx.upload(randomF32(k, random), [k]));
    const { saved } = mtlLoraForward(ctx, tx, tA, tL, tBs, tw, d, o);
    const dx = ctx.tensor([d.T, d.in]);
    mtlLoraBackward(ctx, tx, saved, tdy, tA, tL, tBs, d, o, {
      dA: grads[0],
      dLambda: grads[1],
      dBs: grads[2],
      dw: grads[3],
    }).finish(dx);
    dx.release();
    const got = { h: await ctx.read(saved.h), z: await ctx.read(saved.z), pi: await ctx.read(saved.pi) };
    const g = mtlLoraBackwardRef(x, got, dy, A, lambda, Bs, d, o);
    // Loose common bound (relative 1e-4 of the largest entry): only "overwritten, not added" is at stake here;
    // the random old values are O(1), far above it.
    for (const [t, want] of [
      [grads[0], g.dA],
      [grads[1], g.dLambda],
      [grads[2], g.dBs],
      [grads[3], g.dw],
    ] as const) {
      const scale = Math.max(...want.map(Math.abs));
      expect(mismatches(await ctx.read(t), want, () => 1e-4 * scale)).toEqual([]);
    }
  });
});

describe('MTL-LoRA gradients vs finite differences of the float64 forward', () => {
  // Central differences with h = 1e-6: truncation ≈ h²·f'''/6 (f''' ~ 1/τ³ through the softmax) and float64
  // cancellation ≈ 1e-16·|f|/h, both below 1e-8 here; 1e-6 relative leaves margin, a wrong formula is O(1) off.
  for (const dropout of [0, 0.3]) {
    it(`dA, dΛ, dB^i, dw, dx with dropout=${dropout}`, () => {
      const random = rng(seed + 11);
      const d: MtlLoraDims = { T: 4, in: 5, out: 4, r: 3, n: 3 };
      const o: MtlLoraOptions = { scale: 1.3, tau: 0.4, dropout, seed: 5 };
      const x = randomF32(d.T * d.in, random),
        A = randomF32(d.r * d.in, random);
      const lambda = randomF32(d.r * d.r, random),
        Bs = randomF32(d.n * d.out * d.r, random),
        w = randomF32(d.n, random);
      const proj = randomF32(d.T * d.out, random);
      const loss = (
        xx: ArrayLike<number>,
        AA: ArrayLike<number>,
        LL: ArrayLike<number>,
        BB: ArrayLike<number>,
        ww: ArrayLike<number>,
      ) => dot(proj, mtlLoraForwardRef(xx, AA, LL, BB, ww, d, o).y);
      const saved = mtlLoraForwardRef(x, A, lambda, Bs, w, d, o);
      const g = mtlLoraBackwardRef(x, saved, proj, A, lambda, Bs, d, o);
      const close = (num: Float64Array, ana: Float64Array) =>
        mismatches(num, ana, (i) => 1e-6 * (1 + Math.abs(ana[i])));
      expect(
        close(
          numericGrad((v) => loss(x, v, lambda, Bs, w), A),
          g.dA,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(x, A, v, Bs, w), lambda),
          g.dLambda,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(x, A, lambda, v, w), Bs),
          g.dBs,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(x, A, lambda, Bs, v), w),
          g.dw,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(v, A, lambda, Bs, w), x),
          g.dx,
        ),
      ).toEqual([]);
    });
  }
});
