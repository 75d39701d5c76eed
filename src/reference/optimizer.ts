// Float64 reference of the optimizer and parameter-list ops: the specification the GPU kernels are tested
// against, written as PyTorch defines them (torch.optim.SGD without momentum, torch.optim.AdamW,
// torch.nn.utils.clip_grad_norm_). Same names (+Ref) and argument order as src/ops/optimizer.ts and
// src/ops/paramOps.ts; instead of updating in place they return the new values.

type List = readonly ArrayLike<number>[];

/** θ − lr·(c·g) per tensor, c = clip[1] (the factor from gradNormRef) or 1. */
export function sgdStepRef(params: List, grads: List, lr: number, clip?: ArrayLike<number>): Float64Array[] {
  const c = clip ? clip[1] : 1;
  return params.map((p, t) => {
    const [g, out] = [grads[t], new Float64Array(p.length)];
    for (let i = 0; i < p.length; i++) out[i] = p[i] - lr * (c * g[i]);
    return out;
  });
}

export interface AdamWRefOptions {
  lr: number;
  step: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

/**
 * One AdamW step, torch.optim.AdamW's algorithm: with g scaled by the clip factor,
 *   θ ← θ·(1 − lr·wd);  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²;
 *   θ ← θ − (lr / bc1)·m / (sqrt(v) / sqrt(bc2) + eps),  bc1 = 1 − β1^step, bc2 = 1 − β2^step.
 */
export function adamwStepRef(
  params: List,
  grads: List,
  m: List,
  v: List,
  o: AdamWRefOptions,
  clip?: ArrayLike<number>,
): { params: Float64Array[]; m: Float64Array[]; v: Float64Array[] } {
  const c = clip ? clip[1] : 1;
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  const out = { params: [] as Float64Array[], m: [] as Float64Array[], v: [] as Float64Array[] };
  params.forEach((p, t) => {
    const [n, gt, mt, vt] = [p.length, grads[t], m[t], v[t]];
    const [p1, m1, v1] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
    for (let i = 0; i < n; i++) {
      const g = c * gt[i];
      m1[i] = o.beta1 * mt[i] + (1 - o.beta1) * g;
      v1[i] = o.beta2 * vt[i] + (1 - o.beta2) * g * g;
      const decayed = p[i] * (1 - o.lr * o.weightDecay);
      p1[i] = decayed - ((o.lr / bc1) * m1[i]) / (Math.sqrt(v1[i]) / Math.sqrt(bc2) + o.eps);
    }
    out.params.push(p1);
    out.m.push(m1);
    out.v.push(v1);
  });
  return out;
}

/** {norm, factor}: the L2 norm of all gradients together and min(1, maxNorm / (norm + 1e-6)). */
export function gradNormRef(grads: List, maxNorm: number): Float64Array {
  let sumSq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sumSq += g[i] * g[i];
  const norm = Math.sqrt(sumSq);
  return Float64Array.of(norm, Math.min(1, maxNorm / (norm + 1e-6)));
}

/** y + α·x per tensor. */
export function axpyRef(y: List, x: List, alpha: number): Float64Array[] {
  return y.map((yt, t) => {
    const [xt, out] = [x[t], new Float64Array(yt.length)];
    for (let i = 0; i < yt.length; i++) out[i] = yt[i] + alpha * xt[i];
    return out;
  });
}

/** α·x per tensor. */
export function scaleRef(x: List, alpha: number): Float64Array[] {
  return x.map((xt) => {
    const out = new Float64Array(xt.length);
    for (let i = 0; i < xt.length; i++) out[i] = alpha * xt[i];
    return out;
  });
}

/** (1/K)·Σ_k srcs[k] per tensor: summed in list order, then divided. */
export function meanIntoRef(srcs: readonly List[]): Float64Array[] {
  return srcs[0].map((first, t) => {
    const out = new Float64Array(first.length);
    for (const src of srcs) for (let i = 0; i < out.length; i++) out[i] += src[t][i];
    for (let i = 0; i < out.length; i++) out[i] /= srcs.length;
    return out;
  });
}
