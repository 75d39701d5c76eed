// Seeded random inputs, so a failing case can be replayed: the seed is printed in the test name.

import { mulberry32 } from '../../src/util/mulberry32';

/** mulberry32 (src/util/mulberry32.ts): a small, fast, well-distributed 32-bit PRNG. */
export const rng = mulberry32;

/** Uniform values in [-1, 1) as float32. */
export function randomF32(n: number, random: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

/** A fresh seed per run (fresh inputs each time), reported so a failure can be reproduced with SEED=... */
export function freshSeed(): number {
  return process.env.SEED ? Number(process.env.SEED) : (Math.random() * 2 ** 31) >>> 0;
}
