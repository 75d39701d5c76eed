// param_fill: every 32-bit word of a tensor ← one bit pattern (zeroing gradients and flags)
//
// Words, not floats, so one kernel fills f32, u32 and i32 tensors alike; the host encodes the value.
// One invocation per element; grid1d folds long grids into x·y.

override WG: u32 = 64u;

struct Params { n: u32, bits: u32 }

@group(0) @binding(0) var<storage, read_write> x: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  x[i] = p.bits;
}
