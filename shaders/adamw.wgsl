// adamw: one AdamW step with PyTorch's semantics (torch.optim.AdamW, single-tensor path)
//
//   θ ← θ·(1 − lr·wd)                          decoupled weight decay, applied before the moments
//   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
//   θ ← θ − (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
//
// The scalars that depend only on the step (1 − lr·wd, lr/bc1, sqrt(bc2), with bc = 1 − β^t) are computed on
// the host in float64 and arrive already rounded to f32, so every element pays only its own few roundings.
// g is first scaled by the clip factor left on the GPU by grad_norm_finish.wgsl (1 when not clipping).
// One invocation per element; grid1d folds long grids into x·y.

override WG: u32 = 64u;

struct Params {
  n: u32,
  beta1: f32,
  beta2: f32,
  one_minus_beta1: f32,
  one_minus_beta2: f32,
  decay: f32,     // 1 − lr·weight_decay
  step_size: f32, // lr / bc1
  bc2_sqrt: f32,  // sqrt(bc2)
  eps: f32,
}

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> m: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read> clip: array<f32>; // {norm, factor}
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = grad[i] * clip[1];
  let m1 = p.beta1 * m[i] + p.one_minus_beta1 * g;
  let v1 = p.beta2 * v[i] + p.one_minus_beta2 * (g * g);
  m[i] = m1;
  v[i] = v1;
  let denom = sqrt(v1) / p.bc2_sqrt + p.eps;
  theta[i] = theta[i] * p.decay - p.step_size * (m1 / denom);
}
