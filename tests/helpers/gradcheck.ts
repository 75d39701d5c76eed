// Finite differences of a float64 reference function, for checking backward ops.

/**
 * Central-difference gradient of the scalar f at x: ∂f/∂x_i ≈ (f(x + h·e_i) − f(x − h·e_i)) / 2h.
 * `indices` limits the check to some coordinates (large inputs); others are left NaN.
 */
export function numericGrad(
  f: (x: Float64Array) => number,
  x: ArrayLike<number>,
  h = 1e-6,
  indices?: number[],
): Float64Array {
  const xs = Float64Array.from(x as ArrayLike<number>);
  const g = new Float64Array(xs.length).fill(NaN);
  for (const i of indices ?? xs.keys()) {
    const orig = xs[i];
    xs[i] = orig + h;
    const fp = f(xs);
    xs[i] = orig - h;
    const fm = f(xs);
    xs[i] = orig;
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}

/** Σ_i w_i·y_i: a random projection turns a vector-valued op into a scalar for finite differences. */
export function dot(w: ArrayLike<number>, y: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += w[i] * y[i];
  return s;
}
