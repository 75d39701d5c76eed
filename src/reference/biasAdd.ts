// Float64 reference for the bias add (the specification the GPU kernel is tested against).

/** y[t, n] + b[n] for y [T, N] row-major, N = b's length; a new array (the GPU op works in place). */
export function biasAddRef(y: ArrayLike<number>, b: ArrayLike<number>, T: number): Float64Array {
  const n = b.length;
  return Float64Array.from({ length: T * n }, (_, i) => y[i] + b[i % n]);
}
