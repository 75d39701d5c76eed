// Seeded random inputs, so a failing case can be replayed: the seed is printed in the test name.

/** mulberry32: a small, fast, well-distributed 32-bit PRNG. */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [-1, 1) as float32. */
export function randomF32(n: number, random: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => random() * 2 - 1);
}

/** A fresh seed per run (fresh inputs each time), reported so a failure can be reproduced with SEED=... */
export function freshSeed(): number {
  return process.env.SEED ? Number(process.env.SEED) : (Math.random() * 2 ** 31) >>> 0;
}
