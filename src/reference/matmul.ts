// Float64 reference for matmul: the specification the GPU kernels are tested against.

export interface RefMatmulOptions {
  transA?: boolean;
  transB?: boolean;
}

/** C (M×N, float64) = op(A)·op(B); A is M×K (K×M if transA), B is K×N (N×K if transB), row-major. */
export function matmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  o: RefMatmulOptions = {},
): Float64Array {
  const c = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) {
        s += (o.transA ? a[k * M + m] : a[m * K + k]) * (o.transB ? b[n * K + k] : b[k * N + n]);
      }
      c[m * N + n] = s;
    }
  }
  return c;
}

/** Σ_k |op(A)[m,k]|·|op(B)[k,n]| per element: the scale of rounding error in a float32 dot product. */
export function absMatmulRef(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  o: RefMatmulOptions = {},
): Float64Array {
  const abs = (x: ArrayLike<number>) => Float64Array.from(x as ArrayLike<number>, Math.abs);
  return matmulRef(abs(a), abs(b), M, N, K, o);
}
