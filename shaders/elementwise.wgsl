// elementwise: residual add (y = a + b, a += b) and scaling (y = s·x, x *= s) over flat arrays of any length
//
// Four entry points sharing one uniform, bound first so every entry point's bindings count up from it;
// each entry point's resource interface is only the variables it uses, so bindings may be reused.
// In-place forms exist because a buffer cannot be bound both read-only and writable in one dispatch.
// One element per invocation over a folded 2-D grid (grid1d), so any length fits the dispatch limits.

const WG: u32 = 64u;

struct Params { n: u32, s: f32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<storage, read_write> acc: array<f32>; // in-place target of add_inplace / scale_inplace
@group(0) @binding(2) var<storage, read_write> scaled: array<f32>; // output of scale (input a at binding 1)

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * (nwg.x * WG);
}

@compute @workgroup_size(WG)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { y[i] = a[i] + b[i]; }
}

@compute @workgroup_size(WG)
fn add_inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { acc[i] += b[i]; }
}

@compute @workgroup_size(WG)
fn scale(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { scaled[i] = p.s * a[i]; }
}

@compute @workgroup_size(WG)
fn scale_inplace(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i < p.n) { acc[i] *= p.s; }
}
