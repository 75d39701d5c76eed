// Float64 reference for softmax cross-entropy and its gradient (the specification the GPU kernels are
// tested against). Rows whose target is outside [0, V) (−1: prompt or padding) are ignored.

export interface CrossEntropyRefOptions {
  T: number;
  V: number;
  gradScale: number;
}

export interface CrossEntropyRef {
  /** [T] lse(row) − row[target], 0 for ignored rows. */
  losses: Float64Array;
  /** [Σ losses, counted rows]. */
  total: [number, number];
  /** [T, V] gradScale·(softmax(row) − onehot(target)), 0 for ignored rows. */
  dlogits: Float64Array;
}

export function crossEntropyRef(
  logits: ArrayLike<number>,
  targets: ArrayLike<number>,
  o: CrossEntropyRefOptions,
): CrossEntropyRef {
  const { T, V, gradScale } = o;
  const losses = new Float64Array(T);
  const dlogits = new Float64Array(T * V);
  const total: [number, number] = [0, 0];
  for (let t = 0; t < T; t++) {
    const target = targets[t];
    if (!(target >= 0 && target < V)) continue;
    let max = -Infinity;
    for (let i = 0; i < V; i++) max = Math.max(max, logits[t * V + i]);
    let sum = 0;
    for (let i = 0; i < V; i++) sum += Math.exp(logits[t * V + i] - max);
    const lse = max + Math.log(sum);
    losses[t] = lse - logits[t * V + target];
    for (let i = 0; i < V; i++) {
      dlogits[t * V + i] = gradScale * (Math.exp(logits[t * V + i] - lse) - (i === target ? 1 : 0));
    }
    total[0] += losses[t];
    total[1] += 1;
  }
  return { losses, total, dlogits };
}
