// Inputs for the kernel tuner's workloads (src/ops/tuning.ts): deterministic, no generator state, no
// dependency on the reference code.

/** n values in [−1, 1), a fixed function of (index, seed). */
export function probeValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i * 2654435761 + seed * 40503) >>> 0) % 2048) / 1024 - 1;
  return out;
}
