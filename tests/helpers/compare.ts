// Comparison of GPU results with float64 references under an explicit per-element bound.

export interface Mismatch {
  index: number;
  got: number;
  want: number;
  bound: number;
}

/** Every |got[i] − want[i]| ≤ bound(i), and no NaN; returns the first violations (empty when all pass). */
export function mismatches(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  bound: (i: number) => number,
  max = 5,
): Mismatch[] {
  if (got.length !== want.length) throw new Error(`length ${got.length} ≠ ${want.length}`);
  const out: Mismatch[] = [];
  for (let i = 0; i < got.length && out.length < max; i++) {
    const b = bound(i);
    if (!(Math.abs(got[i] - want[i]) <= b)) out.push({ index: i, got: got[i], want: want[i], bound: b });
  }
  return out;
}
