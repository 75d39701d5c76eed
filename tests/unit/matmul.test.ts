// matmul against the float64 reference: every variant, every transpose pair, awkward sizes.
//
// Tolerance: the classic forward-error bound of a float32 dot product of length K,
//   |C_gpu − C_exact| ≤ γ_K · Σ_k |a_mk|·|b_kn| + tiny,  γ_K = K·u / (1 − K·u), u = 2⁻²⁴,
// scaled by |alpha| (plus one rounding of the existing C when accumulating). Inputs are exact float32, so a
// correct kernel cannot exceed it, while any indexing bug (a missing, doubled or misplaced term) costs about
// Σ|ab|/K per element, far above γ_K·Σ|ab| at these sizes.

import { describe, expect, it } from 'vitest';
import { type MatmulOptions, type MatmulVariant, matmul, matmulVariant, vec4Aligned } from '../../src/ops/matmul';
import { absMatmulRef, matmulRef } from '../../src/reference/matmul';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [65, 33, 129],
  [256, 384, 128],
  [36, 20, 44], // vec4-aligned, but N ends inside a 4×8 register block and nothing is a tile multiple
];
const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;
const VARIANTS: MatmulVariant[] = ['blocked', 'blocked_vec4', 'tiled', 'regtile64', 'regtile128'];
const seed = freshSeed();

/**
 * The register-tiled variants compile slowly on SwiftShader (≈ 1 s a pipeline against 0.1 s for blocked),
 * so they run a cover rather than every pair at every size: the pairs each runs with vec4 operand reads
 * (every size that is vec4-aligned) and with scalar reads (every other size). regtile64 covers every pair
 * once; regtile128 is the same body with other tile constants, run on the model's x·Wᵀ layout.
 */
const PAIRS: Partial<Record<MatmulVariant, { vec4: string[]; scalar: string[] }>> = {
  regtile64: { vec4: ['ff', 'tt'], scalar: ['tf', 'ft'] },
  regtile128: { vec4: ['ft'], scalar: [] },
};

function runs(variant: MatmulVariant, M: number, N: number, K: number, o: MatmulOptions): boolean {
  if (variant === 'blocked_vec4') return vec4Aligned(M, N, K, o);
  const pairs = PAIRS[variant];
  if (!pairs) return true;
  const pair = `${o.transA ? 't' : 'f'}${o.transB ? 't' : 'f'}`;
  return (vec4Aligned(M, N, K, o) ? pairs.vec4 : pairs.scalar).includes(pair);
}

describe(`matmul vs float64 reference (seed ${seed})`, () => {
  for (const variant of VARIANTS) {
    for (const [M, N, K] of SIZES) {
      for (const [transA, transB] of TRANSPOSES) {
        const o: MatmulOptions = { transA, transB, variant };
        if (!runs(variant, M, N, K, o)) continue;
        it(`${variant} ${M}×${N}×${K} transA=${transA} transB=${transB}`, async () => {
          const ctx = await gpu();
          const random = rng(seed + M * 7 + N * 13 + K);
          const a = randomF32(M * K, random);
          const b = randomF32(K * N, random);
          const ta = ctx.upload(a, transA ? [K, M] : [M, K]);
          const tb = ctx.upload(b, transB ? [N, K] : [K, N]);
          const tc = matmul(ctx, ta, tb, M, N, K, o);
          const got = await ctx.read(tc);
          const want = matmulRef(a, b, M, N, K, o);
          const scale = absMatmulRef(a, b, M, N, K, o);
          expect(mismatches(got, want, (i) => gamma(K) * scale[i] + 1e-30)).toEqual([]);
          [ta, tb, tc].forEach((t) => t.release());
        });
      }
    }
  }
});

describe('matmul options', () => {
  it('picks a kernel that suits the adapter and the layout', async () => {
    const ctx = await gpu();
    const v = matmulVariant(ctx, 64, 64, 64, {});
    expect(ctx.info.isSoftware ? v === 'blocked_vec4' : v === 'tiled').toBe(true);
    if (ctx.info.isSoftware) expect(matmulVariant(ctx, 7, 13, 5, {})).toBe('blocked');
    expect(() => matmul(ctx, ctx.tensor([7, 5]), ctx.tensor([5, 13]), 7, 13, 5, { variant: 'blocked_vec4' })).toThrow(
      /vec4-aligned/,
    );
    // A measured or forced strategy applies to every layout: regtile reads unaligned operands as scalars.
    try {
      ctx.kernels.force('matmul', 'regtile128');
      expect([matmulVariant(ctx, 64, 64, 64, {}), matmulVariant(ctx, 7, 13, 5, {})]).toEqual([
        'regtile128',
        'regtile128',
      ]);
    } finally {
      ctx.kernels.force('matmul', undefined);
    }
  });

  // regtile128 is regtile64's body with other tile constants: the batch, alpha and accumulate paths are the same.
  for (const variant of VARIANTS.filter((v) => v !== 'regtile128')) {
    it(`${variant}: batched with broadcast B, alpha and accumulation`, async () => {
      const ctx = await gpu();
      const random = rng(seed + 1);
      const [batch, M, N, K] = [3, 12, 20, 28];
      const a = randomF32(batch * M * K, random);
      const b = randomF32(K * N, random);
      const c0 = randomF32(batch * M * N, random);
      const ta = ctx.upload(a, [batch, M, K]);
      const tb = ctx.upload(b, [K, N]);
      const tc = ctx.upload(c0, [batch, M, N]);
      matmul(ctx, ta, tb, M, N, K, { variant, batch, strideB: 0, alpha: -0.5, accumulate: true }, tc);
      const got = await ctx.read(tc);
      for (let z = 0; z < batch; z++) {
        const az = a.subarray(z * M * K, (z + 1) * M * K);
        const want = matmulRef(az, b, M, N, K);
        const scale = absMatmulRef(az, b, M, N, K);
        const gz = got.subarray(z * M * N, (z + 1) * M * N);
        const cz = c0.subarray(z * M * N, (z + 1) * M * N);
        const expected = Array.from(want, (w, i) => cz[i] - 0.5 * w);
        expect(
          mismatches(gz, expected, (i) => 0.5 * gamma(K + 2) * scale[i] + 2 * U * Math.abs(cz[i]) + 1e-30),
        ).toEqual([]);
      }
    });
  }

  it('rejects operands that are too small for the product', async () => {
    const ctx = await gpu();
    expect(() => matmul(ctx, ctx.tensor([4, 4]), ctx.tensor([4, 4]), 4, 4, 5)).toThrow(
      /A has 16 elements, the product needs 20/,
    );
  });
});
