// sgd: θ ← θ − lr·(c·g), plain SGD without momentum or state (MeTA-LoRA's inner steps)
//
// c is the clip factor that grad_norm_finish.wgsl leaves on the GPU (1 when not clipping): reading it here
// keeps gradient clipping free of host round trips inside an iteration. g·c is rounded first, as PyTorch's
// clip_grad_norm_ scales the gradients in place before the optimizer reads them.
// One invocation per element; grid1d folds long grids into x·y, so the flat index is
// gid.x + gid.y·(num_workgroups.x·WG).

override WG: u32 = 64u;

struct Params { n: u32, lr: f32 }

@group(0) @binding(0) var<storage, read_write> theta: array<f32>;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read> clip: array<f32>; // {norm, factor}
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let g = grad[i] * clip[1];
  theta[i] = theta[i] - p.lr * g;
}
