// linear's decode path (T ≤ 8 tokens, family 'linear_gemv'): the GEMV variants forced — 'gemv' (lanes split
// K, workgroup-memory tree) and 'gemv_subgroup' (subgroupAdd; SwiftShader has subgroups, of 4) — against the
// float64 reference, for f16, Q8_0 and Q4_0, at T = 1, 2, 3, 8, K from one
// block to more than a unit per lane (608 = 76 units of 8), N odd and below one workgroup's 8 rows, with the
// epilogue's options mixed: alpha, accumulate, the adapter's low-rank product with row groups, SwiGLU's
// gated output. Then the paths that must not take the GEMV kernel, and the fallback when a chosen variant
// cannot run.
//
// Tolerance, as in linear.test.ts: weights decode exactly, so the base is a float32 dot product of length K
// (summed in another order here: lane partials, then a tree or subgroup sum — the γ bound holds for any
// order) plus the roundings of alpha and the add: |alpha|·γ_{K+3}·Σ|x||w|; the low-rank product adds
// γ_{r+2}·Σ|s·H·L|, the final adds 2u·(|y| + |y0|); h = silu(g)·u adds 6u relative. A wrong row, token,
// block or nibble moves outputs by about Σ|x||w|/K.

import { describe, expect, it, vi } from 'vitest';
import { linear } from '../../src/ops/linear';
import {
  GEMV_MAX_TOKENS,
  gemvKernel,
  gemvLanes,
  gemvVariant,
  gemvVariants,
  linearGemvProbe,
  type LinearGemvVariant,
} from '../../src/ops/linearGemv';
import { tuneKernels } from '../../src/ops/tuning';
import { uploadWeight, type WeightType } from '../../src/ops/weight';
import { linearRef, weightRef } from '../../src/reference/linear';
import { absMatmulRef } from '../../src/reference/matmul';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { hostWeight } from '../helpers/hostWeight';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);
// 'blocked' is the linear kernels, which linear.test.ts checks at these sizes and options (it is the default
// on this CPU adapter); here the GEMV kernels run the cases forced.
const VARIANTS: LinearGemvVariant[] = ['gemv', 'gemv_subgroup'];
const seed = freshSeed();

interface Case {
  T: number;
  K: number;
  N: number;
  alpha?: number;
  accumulate?: boolean;
  /** Low-rank product of rank r in G row groups. */
  lowRank?: { r: number; G: number };
  gated?: boolean;
}

/**
 * Each weight type twice, each option in two cases. T = 8 (the most the kernel takes) for 'gemv' only: a
 * pipeline's build time on SwiftShader grows with T (~0.4 s per token, its loops unrolled), and the
 * subgroup variant differs only in its reduction, whose code depends on T only through the number of sums
 * (2T, more than the lanes from T = 5 at K = 64); it runs T ≤ 5.
 */
const CASES: [Exclude<WeightType, 'f32'>, Case][] = [
  ['q4_0', { T: 1, K: 32, N: 33 }],
  ['f16', { T: 1, K: 64, N: 9, alpha: -2 }],
  ['q8_0', { T: 3, K: 96, N: 13, alpha: -0.75, accumulate: true, lowRank: { r: 1, G: 3 } }],
  ['f16', { T: 8, K: 576, N: 61, lowRank: { r: 4, G: 2 }, gated: true }],
  ['q4_0', { T: 2, K: 608, N: 5, alpha: 1.5, accumulate: true, gated: true }],
  ['q8_0', { T: 1, K: 576, N: 19, accumulate: true, lowRank: { r: 8, G: 1 } }],
  // Fewer lanes than sums (2T of 4 outputs each: K = 32 has 4 lanes, K = 64 8) and than tokens: the
  // reduction and the stores loop.
  ['q4_0', { T: 7, K: 32, N: 12, accumulate: true }],
  ['q8_0', { T: 5, K: 64, N: 20, gated: true }],
  ['q8_0', { T: 1, K: 160, N: 64, accumulate: true, lowRank: { r: 4, G: 1 } }],
  // bfloat16: the f16 decoding with BF16 set.
  ['bf16', { T: 2, K: 96, N: 11, alpha: -0.5, accumulate: true, lowRank: { r: 2, G: 2 } }],
];

const describeCase = (c: Case) =>
  `T=${c.T} K=${c.K} N=${c.N}` +
  (c.alpha !== undefined ? ` alpha=${c.alpha}` : '') +
  (c.accumulate ? ' accumulate' : '') +
  (c.lowRank ? ` low-rank r=${c.lowRank.r} groups=${c.lowRank.G}` : '') +
  (c.gated ? ' gated' : '');

/** Runs one case with `type` weights under whatever variant the context resolves, checks u (and h). */
async function check(type: WeightType, c: Case, caseSeed: number): Promise<void> {
  const ctx = await gpu();
  const random = rng(caseSeed);
  const { T, K, N, alpha = 1, accumulate = false } = c;
  const hw = hostWeight(type, N, K, random);
  const w = uploadWeight(ctx, type, N, K, hw.bytes);
  const x = randomF32(T * K, random);
  const y0 = randomF32(T * N, random);
  const g = randomF32(T * N, random).map((v) => 8 * v);
  const { r, G } = c.lowRank ?? { r: 1, G: 1 };
  const stride = N * r + 5;
  const H = randomF32(T * r, random);
  const L = randomF32((G - 1) * stride + N * r, random);
  const [tx, ty, tg, tH, tL] = [x, y0, g, H, L].map((v) => ctx.upload(v, [v.length]));
  const th = ctx.tensor([T, N]);
  const lrScale = 0.5;
  const lowRank = c.lowRank
    ? { H: tH, L: tL, r, scale: lrScale, transposed: false, ...(G > 1 ? { groups: G, stride } : {}) }
    : undefined;
  const gated = c.gated ? { gate: tg, out: th } : undefined;
  linear(ctx, tx, w, T, { alpha, accumulate, lowRank, gated }, ty);
  const [u, h] = [await ctx.read(ty), await ctx.read(th)];
  [tx, ty, tg, tH, tL, th, w.data].forEach((t) => t.release());

  const want = linearRef(x, hw, T, { alpha, accumulate }, y0);
  const base = absMatmulRef(x, weightRef(hw), T, N, K, { transB: true });
  const lrAbs = new Float64Array(T * N);
  if (c.lowRank) {
    for (let t = 0; t < T; t++) {
      const at = Math.floor(t / (T / G)) * (G > 1 ? stride : 0);
      for (let n = 0; n < N; n++) {
        for (let j = 0; j < r; j++) {
          const term = lrScale * H[t * r + j] * L[at + n * r + j];
          want[t * N + n] += term;
          lrAbs[t * N + n] += Math.abs(term);
        }
      }
    }
  }
  const uBound = (e: number) =>
    Math.abs(alpha) * gamma(K + 3) * base[e] +
    gamma(r + 2) * lrAbs[e] +
    2 * U * (Math.abs(want[e]) + (accumulate ? Math.abs(y0[e]) : 0)) +
    1e-30;
  expect(mismatches(u, want, uBound)).toEqual([]);
  if (c.gated) {
    const silu = (v: number) => v / (1 + Math.exp(-v));
    const hWant = Float64Array.from(want, (v, e) => silu(g[e]) * v);
    const hBound = (e: number) => Math.abs(silu(g[e])) * (uBound(e) + 6 * U * Math.abs(want[e])) + 1e-30;
    expect(mismatches(h, hWant, hBound)).toEqual([]);
  }
}

describe.each(VARIANTS)(`linear, decode path, %s forced (seed ${seed})`, (variant) => {
  for (const [i, [type, shape]] of CASES.entries()) {
    // At most 5 tokens for the subgroup variant, still a whole number of low-rank groups.
    const fewer = Math.min(shape.T, 5) - (Math.min(shape.T, 5) % (shape.lowRank?.G ?? 1));
    const c = variant === 'gemv' ? shape : { ...shape, T: fewer };
    it(`${type} ${describeCase(c)}`, async () => {
      const ctx = await gpu();
      ctx.kernels.force('linear_gemv', variant);
      try {
        await check(type, c, seed + 31 * i);
      } finally {
        ctx.kernels.force('linear_gemv', undefined);
      }
    });
  }
});

describe(`linear, decode path: choice and fallbacks (seed ${seed})`, () => {
  it("runs 'blocked' on this CPU adapter unless told otherwise, which has subgroups", async () => {
    const ctx = await gpu();
    expect(ctx.info.isSoftware).toBe(true);
    expect(gemvVariant(ctx)).toBe('blocked');
    expect(ctx.has('subgroups')).toBe(true);
  });

  it('keeps the blocked kernels past 8 tokens, for f32 weights, f16 rows not a multiple of 8 and grids past the limit', async () => {
    const ctx = await gpu();
    const weight = (type: WeightType, K: number, rows = 5) =>
      uploadWeight(ctx, type, rows, K, hostWeight(type, rows, K, rng(seed)).bytes);
    const [q8, f16, f16Odd, f32, q8Tall] = [
      weight('q8_0', 64),
      weight('f16', 64),
      weight('f16', 36),
      weight('f32', 64),
      weight('q8_0', 64, 9),
    ];
    ctx.kernels.force('linear_gemv', 'gemv');
    try {
      expect(gemvKernel(ctx, q8, GEMV_MAX_TOKENS)?.constants).toEqual({ TOKENS: GEMV_MAX_TOKENS, LANES: 8 });
      expect(gemvKernel(ctx, f16, 1)?.constants).toEqual({ TOKENS: 1, LANES: 8 });
      expect([32, 96, 576, 608, 1536].map(gemvLanes)).toEqual([4, 16, 64, 64, 64]);
      expect(gemvKernel(ctx, q8, GEMV_MAX_TOKENS + 1)).toBeUndefined();
      expect(gemvKernel(ctx, f16Odd, 1)).toBeUndefined();
      expect(gemvKernel(ctx, f32, 1)).toBeUndefined();
      const small: Record<string, number> = {};
      for (const name in ctx.device.limits) small[name] = ctx.device.limits[name as keyof GPUSupportedLimits] as number;
      small.maxComputeWorkgroupsPerDimension = 1; // q8's 5 rows are one workgroup of 8 rows
      const limits = vi.spyOn(ctx.device, 'limits', 'get').mockReturnValue(small as unknown as GPUSupportedLimits);
      try {
        expect(gemvKernel(ctx, q8, 1)).toBeDefined();
        expect(gemvKernel(ctx, q8Tall, 1)).toBeUndefined();
      } finally {
        limits.mockRestore();
      }
      // What linear dispatches follows: the GEMV kernel at 1 token, the blocked one at 9.
      const kernelsOf = (T: number): string[] => {
        const x = ctx.tensor([T, 64]);
        ctx.resetStats();
        linear(ctx, x, q8, T).release();
        x.release();
        return [...ctx.stats.byKernel.keys()];
      };
      expect(kernelsOf(1)).toEqual(['linear_gemv']);
      expect(kernelsOf(9)).toEqual(['linear_q8_0']);
    } finally {
      ctx.kernels.force('linear_gemv', undefined);
      [q8, f16, f16Odd, f32, q8Tall].forEach((w) => w.data.release());
    }
  });

  it('an f16 row of 36 under a forced GEMV variant is still right (the blocked kernel runs it)', async () => {
    const ctx = await gpu();
    ctx.kernels.force('linear_gemv', 'gemv_subgroup');
    try {
      await check('f16', { T: 2, K: 36, N: 7, accumulate: true, lowRank: { r: 2, G: 2 }, gated: true }, seed + 7);
    } finally {
      ctx.kernels.force('linear_gemv', undefined);
    }
  });

  it("'gemv_subgroup' chosen on an adapter without subgroups runs 'gemv', and is right", async () => {
    const ctx = await gpu();
    const w = uploadWeight(ctx, 'q4_0', 9, 64, hostWeight('q4_0', 9, 64, rng(seed)).bytes);
    ctx.kernels.force('linear_gemv', 'gemv_subgroup');
    const has = vi.spyOn(ctx, 'has').mockReturnValue(false);
    try {
      expect(gemvKernel(ctx, w, 1)?.code).not.toMatch(/enable subgroups/);
      await check('q4_0', { T: 3, K: 96, N: 11, accumulate: true, lowRank: { r: 3, G: 3 } }, seed + 8);
    } finally {
      has.mockRestore();
      ctx.kernels.force('linear_gemv', undefined);
      w.data.release();
    }
    expect(gemvKernel(ctx, w, 1)?.code).toBeUndefined(); // 'blocked' again: the default here
  });

  it("the tuner's probe: every candidate agrees with 'blocked' on it and gets a time", async () => {
    const ctx = await gpu();
    try {
      const { linear_gemv: choice } = await tuneKernels(ctx, [linearGemvProbe], { minMs: 1 });
      expect(Object.keys(choice.ms).sort()).toEqual([...gemvVariants(ctx)].sort());
      expect(choice.rejected).toBeUndefined();
    } finally {
      ctx.kernels.clear(); // the tuner adopted its choice: back to the defaults
    }
  });
});
