// param_scale: x ← α·x in place (the 1/K of a mean of task gradients)
//
// One invocation per element; grid1d folds long grids into x·y.

override WG: u32 = 64u;

struct Params { n: u32, alpha: f32 }

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  x[i] = p.alpha * x[i];
}
