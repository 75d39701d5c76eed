// mulberry32: a small, well-distributed 32-bit generator, for places that need a cheap seeded stream of
// uniforms without saved state (adapter init, sampling, test inputs). Training's resumable streams use
// src/util/rng.ts instead.

/** Uniform floats in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
