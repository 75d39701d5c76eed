// Float64 reference for SwiGLU (the specification the GPU kernels are tested against).

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** h = silu(g) ⊙ u = g·σ(g)·u, elementwise. */
export function swigluRef(g: ArrayLike<number>, u: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: g.length }, (_, i) => g[i] * sigmoid(g[i]) * u[i]);
}

/** du = dh·silu(g); dg = dh·u·silu'(g) with silu'(g) = σ(g)·(1 + g·(1 − σ(g))). */
export function swigluBackwardRef(
  dh: ArrayLike<number>,
  g: ArrayLike<number>,
  u: ArrayLike<number>,
): { dg: Float64Array; du: Float64Array } {
  const dg = new Float64Array(g.length);
  const du = new Float64Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const s = sigmoid(g[i]);
    du[i] = dh[i] * g[i] * s;
    dg[i] = dh[i] * u[i] * s * (1 + g[i] * (1 - s));
  }
  return { dg, du };
}
