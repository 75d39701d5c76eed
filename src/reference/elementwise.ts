// Float64 references for the elementwise ops (the specification the GPU kernels are tested against).
// The in-place GPU forms (addInPlace, scaleInPlace) compute the same values into their first argument.

/** y = a + b. */
export function addRef(a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: a.length }, (_, i) => a[i] + b[i]);
}

/** y = s·x. */
export function scaleRef(x: ArrayLike<number>, s: number): Float64Array {
  return Float64Array.from({ length: x.length }, (_, i) => s * x[i]);
}
