// Float64 reference for RMSNorm (the specification the GPU kernels are tested against).

export interface RmsNormRefDims {
  T: number;
  D: number;
}

/** y = x · rrms · w per row of x [T, D], rrms = 1/sqrt(mean(x²) + eps). */
export function rmsnormRef(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  dims: RmsNormRefDims & { eps: number },
): { y: Float64Array; rrms: Float64Array } {
  const { T, D, eps } = dims;
  const y = new Float64Array(T * D);
  const rrms = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    let ss = 0;
    for (let i = 0; i < D; i++) ss += x[t * D + i] ** 2;
    const r = 1 / Math.sqrt(ss / D + eps);
    rrms[t] = r;
    for (let i = 0; i < D; i++) y[t * D + i] = x[t * D + i] * r * w[i];
  }
  return { y, rrms };
}

/**
 * dx of rmsnorm: with y_i = x_i·r·w_i and ∂r/∂x_j = −r³·x_j/D,
 *   dx_j = r·w_j·dy_j − x_j · r³/D · Σ_i dy_i·w_i·x_i.
 */
export function rmsnormBackwardRef(
  dy: ArrayLike<number>,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  rrms: ArrayLike<number>,
  dims: RmsNormRefDims,
): Float64Array {
  const { T, D } = dims;
  const dx = new Float64Array(T * D);
  for (let t = 0; t < T; t++) {
    const r = rrms[t];
    let s = 0;
    for (let i = 0; i < D; i++) s += dy[t * D + i] * w[i] * x[t * D + i];
    for (let j = 0; j < D; j++) dx[t * D + j] = r * w[j] * dy[t * D + j] - (x[t * D + j] * r ** 3 * s) / D;
  }
  return dx;
}
