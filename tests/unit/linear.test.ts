// linear (frozen f32 / f16 / Q8_0 / Q4_0 weights) against the float64 reference, forward and input gradient.
//
// Tolerance: the kernels decode every weight exactly in f32 (an f16 is exact in f32; d·q is an f16 times an
// integer of at most 8 bits, exact in a 24-bit mantissa), so what remains is the float32 dot product of
// length K (K = in forward, out backward) against the exactly dequantized weights, plus at most three more
// roundings per term: the block scale folded into dy (backward), alpha, and the add into y0 (accumulate):
//   |y_gpu − y_exact| ≤ |alpha|·γ_{K+3}·Σ_k |x_k|·|w_k| + 2u·|y0| + tiny,
//   γ_K = K·u/(1 − K·u), u = 2⁻²⁴.
// A decoding or indexing bug (a wrong nibble, a misplaced block, a scale from the wrong half word) costs
// about Σ|x||w|/K per element, orders of magnitude above this bound at these sizes.

import { describe, expect, it } from 'vitest';
import { LINEAR_VARIANTS, linear, linearBackwardInput, linearVariant } from '../../src/ops/linear';
import { uploadWeight, type WeightType } from '../../src/ops/weight';
import { hostWeight } from '../helpers/hostWeight';
import { linearBackwardInputRef, linearRef, weightRef } from '../../src/reference/linear';
import { absMatmulRef } from '../../src/reference/matmul';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);
const TYPES: WeightType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0'];
/** The epilogue and gradient sections: bf16 differs from f16 only in its widening, which the first section checks. */
const EPILOGUE_TYPES = TYPES.filter((t) => t !== 'bf16');

/** [T, in, out]: tiny, not tile multiples, odd outputs, stories260K (64/172) and SmolLM2-135M (576/192/1536). */
const SHAPES: [number, number, number][] = [
  [1, 64, 96],
  [37, 64, 96],
  [37, 576, 192],
  [5, 160, 33],
  [9, 64, 172],
  [133, 96, 40],
  [13, 192, 1536],
  [11, 1536, 576],
];
/** Inputs that are not a multiple of 32 (or even of 4): f32 and f16 only, quantized rows need whole blocks. */
const FLOAT_SHAPES: [number, number, number][] = [
  [3, 172, 64],
  [7, 33, 5],
  [2, 1, 1],
  [6, 175, 160],
];

const seed = freshSeed();

/**
 * The tiled variant compiles slowly on SwiftShader (≈ 1 s a pipeline: workgroup memory and barriers), so it
 * runs every shape of every quantized/f16 type and direction under one set of override constants
 * (accumulating, alpha ≠ 1) and the epilogue options once each; the epilogue is the blocked kernels' own
 * store (linear_common's store4), which they test under every combination. f32 weights go to matmul
 * whatever the variant, so tiled skips them.
 */
function tiledRuns(type: WeightType, inDim: number, outDim: number): boolean {
  // SmolLM2's 1536-wide shapes cost the tiled kernel 0.4–1.5 s each on SwiftShader; 576×192 covers long
  // reductions in both directions.
  return type !== 'f32' && inDim * outDim < 200_000;
}

interface Case {
  type: WeightType;
  T: number;
  inDim: number;
  outDim: number;
  accumulate: boolean;
  alpha: number;
}

const CASES: Case[] = [];
for (const type of TYPES) {
  // bf16 runs the f16 kernels with only their widening changed: a few shapes, odd K included, cover it.
  const shapes =
    type === 'bf16'
      ? [SHAPES[1], SHAPES[3], ...FLOAT_SHAPES]
      : type === 'f32' || type === 'f16'
        ? [...SHAPES, ...FLOAT_SHAPES]
        : SHAPES;
  shapes.forEach(([T, inDim, outDim], i) => {
    // Every other case accumulates with a non-trivial alpha, so both store paths see every shape family.
    const accumulate = i % 2 === 1;
    CASES.push({ type, T, inDim, outDim, accumulate, alpha: accumulate ? -0.75 : 1 });
  });
}

describe(`linear vs float64 reference (seed ${seed})`, () => {
  for (const variant of LINEAR_VARIANTS)
    for (const direction of ['forward', 'backward'] as const) {
      for (const c of CASES) {
        if (variant === 'tiled' && !tiledRuns(c.type, c.inDim, c.outDim)) continue;
        const { type, T, inDim, outDim } = c;
        const [accumulate, alpha] = variant === 'tiled' ? [true, -0.75] : [c.accumulate, c.alpha];
        const options = accumulate ? ` accumulate alpha=${alpha}` : '';
        const name = `${variant} ${direction} ${type} T=${T} in=${inDim} out=${outDim}${options}`;
        it(name, async () => {
          const ctx = await gpu();
          const random = rng(seed + T * 7 + inDim * 13 + outDim * 17 + TYPES.indexOf(type));
          const hw = hostWeight(type, outDim, inDim, random);
          const w = uploadWeight(ctx, type, outDim, inDim, hw.bytes);
          const [inLen, outLen, K] = direction === 'forward' ? [inDim, outDim, inDim] : [outDim, inDim, outDim];
          const x = randomF32(T * inLen, random);
          const y0 = randomF32(T * outLen, random);
          const tx = ctx.upload(x, [T, inLen]);
          const ty = ctx.upload(y0, [T, outLen]);
          const opts = { accumulate, alpha, variant };
          if (direction === 'forward') linear(ctx, tx, w, T, opts, ty);
          else linearBackwardInput(ctx, tx, w, T, opts, ty);
          const got = await ctx.read(ty);

          const want =
            direction === 'forward' ? linearRef(x, hw, T, opts, y0) : linearBackwardInputRef(x, hw, T, opts, y0);
          // Σ|x||w| per output: forward x·|W|ᵀ, backward |dy|·|W|.
          const scale = absMatmulRef(x, weightRef(hw), T, outLen, K, { transB: direction === 'forward' });
          const bound = (i: number) =>
            Math.abs(alpha) * gamma(K + 3) * scale[i] + (accumulate ? 2 * U * Math.abs(y0[i]) : 0) + 1e-30;
          expect(mismatches(got, want, bound)).toEqual([]);
          [tx, ty, w.data].forEach((t) => t.release());
        });
      }
    }
});

describe(`linear with an adapter's low-rank product in its epilogue (seed ${seed})`, () => {
  // out = alpha·(base) (+ out) + scale·H·Lᵀ per row group: LoRA's y += s·h·Bᵀ (L = B [cols, r]) forward and
  // dx += dh·A (L = A [r, cols], transposed) backward, with G row groups each using its own copy of L a
  // stride apart (MeTA-LoRA's tasks). The low-rank sum adds r terms and two roundings (scale, the add) to
  // the base product's bound; a wrong row group, copy, layout or index moves outputs by about Σ|H||L|/r.
  const LOW_RANK_CASES: [number, number, number, number, number][] = [
    // [T, in, out, r, G]
    [37, 64, 96, 8, 1],
    [36, 576, 192, 8, 3],
    [10, 160, 33, 1, 2],
    [64, 96, 40, 16, 4],
  ];
  // tiled: the input gradient in f16, always accumulating (the epilogue is the blocked kernels' store4, and
  // does not depend on the weight type); its forward runs the low-rank product with SwiGLU, below.
  const TILED_LOW_RANK: Record<string, WeightType | undefined> = { backward: 'f16' };
  for (const variant of LINEAR_VARIANTS)
    for (const type of EPILOGUE_TYPES) {
      for (const direction of ['forward', 'backward'] as const) {
        if (variant === 'tiled' && TILED_LOW_RANK[direction] !== type) continue;
        for (const [i, [T, inDim, outDim, r, G]] of LOW_RANK_CASES.entries()) {
          const accumulate = variant === 'tiled' || i % 2 === 0;
          it(`${variant} ${direction} ${type} T=${T} in=${inDim} out=${outDim} r=${r} groups=${G}${accumulate ? ' accumulate' : ''}`, async () => {
            const ctx = await gpu();
            const random = rng(seed + T * 5 + inDim + outDim * 3 + r * 11 + G + TYPES.indexOf(type));
            const hw = hostWeight(type, outDim, inDim, random);
            const w = uploadWeight(ctx, type, outDim, inDim, hw.bytes);
            const forward = direction === 'forward';
            const [inLen, cols, K] = forward ? [inDim, outDim, inDim] : [outDim, inDim, outDim];
            const stride = cols * r + 7;
            const scale = forward ? 2.5 : 1;
            const x = randomF32(T * inLen, random);
            const y0 = randomF32(T * cols, random);
            const H = randomF32(T * r, random);
            const L = randomF32((G - 1) * stride + cols * r, random);
            const [tx, ty, tH, tL] = [x, y0, H, L].map((v) => ctx.upload(v, [v.length]));
            const lowRank = { H: tH, L: tL, r, scale, transposed: !forward, ...(G > 1 ? { groups: G, stride } : {}) };
            const opts = { accumulate, lowRank, variant };
            if (forward) linear(ctx, tx, w, T, opts, ty);
            else linearBackwardInput(ctx, tx, w, T, opts, ty);
            const got = await ctx.read(ty);

            const plain = { accumulate };
            const want = forward ? linearRef(x, hw, T, plain, y0) : linearBackwardInputRef(x, hw, T, plain, y0);
            const base = absMatmulRef(x, weightRef(hw), T, cols, K, { transB: forward });
            const lrAbs = new Float64Array(T * cols);
            for (let t = 0; t < T; t++) {
              const at = Math.floor(t / (T / G)) * (G > 1 ? stride : 0);
              for (let c = 0; c < cols; c++) {
                let sum = 0,
                  sumAbs = 0;
                for (let j = 0; j < r; j++) {
                  const l = L[at + (forward ? c * r + j : j * cols + c)];
                  sum += H[t * r + j] * l;
                  sumAbs += Math.abs(H[t * r + j] * l);
                }
                want[t * cols + c] += scale * sum;
                lrAbs[t * cols + c] = Math.abs(scale) * sumAbs;
              }
            }
            const bound = (e: number) =>
              gamma(K + 3) * base[e] +
              gamma(r + 2) * lrAbs[e] +
              2 * U * (Math.abs(want[e]) + (accumulate ? Math.abs(y0[e]) : 0)) +
              1e-30;
            expect(mismatches(got, want, bound)).toEqual([]);
            [tx, ty, tH, tL, w.data].forEach((t) => t.release());
          });
        }
      }
    }
});

describe(`linear with SwiGLU in its epilogue (seed ${seed})`, () => {
  // The up projection also writes h = silu(g) ⊙ u as it stores u (with or without a low-rank product): u as
  // the plain linear's bound; h = silu(g)·u adds silu's few roundings (exp, the add, the division, the
  // product: 6u) to u's relative error. A wrong index or a missing epilogue moves h by O(|h|).
  for (const variant of LINEAR_VARIANTS)
    for (const type of EPILOGUE_TYPES) {
      for (const withLowRank of [false, true]) {
        // tiled: once, with the low-rank product too (the epilogue is the blocked kernels' store).
        if (variant === 'tiled' && (type !== 'q8_0' || !withLowRank)) continue;
        it(`${variant} ${type} T=21 in=64 out=40${withLowRank ? ' with a low-rank product' : ''}`, async () => {
          const ctx = await gpu();
          const random = rng(seed + 29 + TYPES.indexOf(type) * 2 + +withLowRank);
          const [T, inDim, outDim, r] = [21, 64, 40, 4];
          const hw = hostWeight(type, outDim, inDim, random);
          const w = uploadWeight(ctx, type, outDim, inDim, hw.bytes);
          const x = randomF32(T * inDim, random);
          const g = randomF32(T * outDim, random).map((v) => 8 * v);
          const H = randomF32(T * r, random);
          const L = randomF32(outDim * r, random);
          const [tx, tg, tH, tL] = [x, g, H, L].map((v) => ctx.upload(v, [v.length]));
          const th = ctx.tensor([T, outDim]);
          const lowRank = withLowRank ? { H: tH, L: tL, r, scale: 0.5, transposed: false } : undefined;
          const tu = linear(ctx, tx, w, T, { lowRank, gated: { gate: tg, out: th }, variant });
          const [u, h] = [await ctx.read(tu), await ctx.read(th)];

          const want = linearRef(x, hw, T);
          const scale = absMatmulRef(x, weightRef(hw), T, outDim, inDim, { transB: true });
          if (withLowRank) {
            for (let e = 0; e < T * outDim; e++) {
              const [t, c] = [Math.floor(e / outDim), e % outDim];
              for (let j = 0; j < r; j++) {
                want[e] += 0.5 * H[t * r + j] * L[c * r + j];
                scale[e] += 0.5 * Math.abs(H[t * r + j] * L[c * r + j]);
              }
            }
          }
          const uBound = (e: number) => gamma(inDim + r + 5) * scale[e] + 1e-30;
          expect(mismatches(u, want, uBound)).toEqual([]);
          const silu = (v: number) => v / (1 + Math.exp(-v));
          const hWant = Float64Array.from(want, (v, e) => silu(g[e]) * v);
          const hBound = (e: number) => Math.abs(silu(g[e])) * (uBound(e) + 6 * U * Math.abs(want[e])) + 1e-30;
          expect(mismatches(h, hWant, hBound)).toEqual([]);
          [tx, tg, tH, tL, th, tu, w.data].forEach((t) => t.release());
        });
      }
    }
  it('refuses a gated output on the input gradient', async () => {
    const ctx = await gpu();
    const hw = hostWeight('q8_0', 40, 64, rng(seed));
    const w = uploadWeight(ctx, 'q8_0', 40, 64, hw.bytes);
    const [dy, gate] = [ctx.tensor([2, 40]), ctx.tensor([2, 40])];
    expect(() => linearBackwardInput(ctx, dy, w, 2, { gated: { gate, out: gate } })).toThrow(/no gated output/);
    [dy, gate, w.data].forEach((t) => t.release());
  });
});

describe('linear options', () => {
  it('runs blocked on CPU adapters and tiled on GPUs, unless ctx.kernels or the call says else', async () => {
    const ctx = await gpu();
    const byDefault = ctx.info.isSoftware ? 'blocked' : 'tiled';
    expect([linearVariant(ctx, 'linear'), linearVariant(ctx, 'linear_dx')]).toEqual([byDefault, byDefault]);
    const hw = hostWeight('q4_0', 40, 64, rng(seed + 2));
    const w = uploadWeight(ctx, 'q4_0', 40, 64, hw.bytes);
    const x = ctx.tensor([3, 64]);
    const accumulating = { accumulate: true }; // the tiled pipelines the tests above built
    const kernelsRun = (record: () => void) => {
      ctx.resetStats();
      record();
      return [...ctx.stats.byKernel.keys()];
    };
    try {
      ctx.kernels.force('linear_dx', 'tiled');
      ctx.kernels.force('linear', 'blocked');
      expect(kernelsRun(() => linearBackwardInput(ctx, linear(ctx, x, w, 3), w, 3, accumulating))).toEqual([
        'linear_q4_0',
        'linear_tiled',
      ]);
      expect(kernelsRun(() => linear(ctx, x, w, 3, { ...accumulating, variant: 'tiled' }))).toEqual(['linear_tiled']);
    } finally {
      ctx.kernels.force('linear_dx', undefined);
      ctx.kernels.force('linear', undefined);
      [x, w.data].forEach((t) => t.release());
    }
  });

  it('creates the output when none is given and checks operand sizes', async () => {
    const ctx = await gpu();
    const random = rng(seed + 1);
    const hw = hostWeight('q8_0', 40, 64, random);
    const w = uploadWeight(ctx, 'q8_0', 40, 64, hw.bytes);
    const x = randomF32(3 * 64, random);
    const tx = ctx.upload(x, [3, 64]);
    const y = linear(ctx, tx, w, 3);
    expect(y.shape).toEqual([3, 40]);
    const dx = linearBackwardInput(ctx, y, w, 3);
    expect(dx.shape).toEqual([3, 64]);
    const want = linearRef(x, hw, 3);
    const scale = absMatmulRef(x, weightRef(hw), 3, 40, 64, { transB: true });
    expect(mismatches(await ctx.read(y), want, (i) => gamma(66) * scale[i])).toEqual([]);
    expect(() => linear(ctx, tx, w, 4)).toThrow(/x has 192 elements, the product needs 256/);
    expect(() => linearBackwardInput(ctx, tx, w, 5)).toThrow(/dy has 192 elements, the product needs 200/);
    [tx, y, dx, w.data].forEach((t) => t.release());
  });
});

describe(`linear input gradient vs finite differences (seed ${seed})`, () => {
  // d/dx of Σ p·linear(x) is linearBackwardInput(p): checked on the float64 reference by central differences
  // (linear in x, so only rounding of the float64 sums remains: 1e-7 relative), then the GPU against it.
  for (const type of EPILOGUE_TYPES) {
    it(`${type} [T=3, in=64, out=40]`, async () => {
      const ctx = await gpu();
      const random = rng(seed + 11);
      const [T, inDim, outDim] = [3, 64, 40];
      const hw = hostWeight(type, outDim, inDim, random);
      const x = randomF32(T * inDim, random);
      const p = randomF32(T * outDim, random);
      const numeric = numericGrad((xs) => dot(p, linearRef(xs, hw, T)), x, 1e-3);
      const analytic = linearBackwardInputRef(p, hw, T);
      expect(mismatches(analytic, numeric, (i) => 1e-7 * (1 + Math.abs(numeric[i])))).toEqual([]);
      const w = uploadWeight(ctx, type, outDim, inDim, hw.bytes);
      const got = await ctx.read(linearBackwardInput(ctx, ctx.upload(p, [T, outDim]), w, T));
      const scale = absMatmulRef(Float64Array.from(p, Math.abs), weightRef(hw), T, inDim, outDim);
      expect(mismatches(got, analytic, (i) => gamma(outDim + 3) * scale[i] + 1e-30)).toEqual([]);
    });
  }
});
