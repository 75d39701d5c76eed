// A quick proof that the GPU computes correctly: a product small enough to read on the page, and a random
// one at awkward sizes compared with a float64 product computed here (the same rule as src/reference/matmul.ts,
// which production code does not import).

import type { GpuContext } from '../gpu/context';
import { matmul, matmulVariant } from '../ops/matmul';
import type { SelfTestResult } from './protocol';

export async function matmulSelfTest(ctx: GpuContext): Promise<SelfTestResult> {
  const t0 = performance.now();
  const a = ctx.upload(Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]);
  const b = ctx.upload(Float32Array.from([7, 8, 9, 10, 11, 12]), [3, 2]);
  const small = Array.from(await ctx.read(matmul(ctx, a, b, 2, 2, 3)));

  const [M, N, K] = [37, 29, 41];
  const x = Float32Array.from({ length: M * K }, () => Math.random() * 2 - 1);
  const y = Float32Array.from({ length: K * N }, () => Math.random() * 2 - 1);
  const got = await ctx.read(matmul(ctx, ctx.upload(x, [M, K]), ctx.upload(y, [K, N]), M, N, K));
  const want = matmulF64(x, y, M, N, K);
  const scale = matmulF64(x.map(Math.abs), y.map(Math.abs), M, N, K); // rounding error scales with Σ|a||b|
  let maxAbsError = 0;
  let pass = true;
  const gammaK = (K * 2 ** -24) / (1 - K * 2 ** -24);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    maxAbsError = Math.max(maxAbsError, err);
    if (!(err <= gammaK * scale[i])) pass = false;
  }
  return {
    small,
    shape: [M, N, K],
    maxAbsError,
    bound: gammaK * Math.max(...scale),
    pass,
    kernel: matmulVariant(ctx, M, N, K, {}),
    ms: performance.now() - t0,
  };
}

/** C = A·B in float64, row-major A [M, K] and B [K, N]. */
function matmulF64(a: Float32Array, b: Float32Array, M: number, N: number, K: number): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k] * b[k * N + n];
      c[m * N + n] = s;
    }
  }
  return c;
}
