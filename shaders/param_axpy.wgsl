// param_axpy: y ← y + α·x over one parameter-sized tensor (summing task gradients, copies with a scale)
//
// One invocation per element; grid1d folds long grids into x·y, so the flat index is
// gid.x + gid.y·(num_workgroups.x·WG).

override WG: u32 = 64u;

struct Params { n: u32, alpha: f32 }

@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  y[i] = y[i] + p.alpha * x[i];
}
