// param_nonfinite: flag ← flag | 1 if any element of an f32 tensor is NaN or ±Inf
//
// The trainer checks losses and gradients without reading them back: it reads this one word when it logs.
// The test is on the bits (exponent all ones) because shader compilers may assume floats are finite and
// fold isnan-style comparisons away. Integer atomics only (WGSL has no float atomics); flags only ever
// gain bits, so many tensors and calls can share one flag until the host clears it.
// One invocation per element; grid1d folds long grids into x·y.

override WG: u32 = 64u;

const EXPONENT_MASK: u32 = 0x7f800000u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> x: array<u32>; // the f32 tensor, viewed as bits
@group(0) @binding(1) var<storage, read_write> flag: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  if ((x[i] & EXPONENT_MASK) == EXPONENT_MASK) { atomicOr(&flag[0], 1u); }
}
