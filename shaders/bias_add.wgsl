// bias_add: y[t, n] += b[n] in place on y [T, N] (Qwen2's q/k/v projection biases)
//
// One element per invocation over a folded 2-D grid (grid1d), so any T·N fits the dispatch limits; the
// bias column is i mod N. In place because the projection output is needed only with its bias added.

const WG: u32 = 64u;

struct Params { total: u32, n: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i < p.total) { y[i] += b[i % p.n]; }
}
