// swiglu_forward: h = silu(g) ⊙ u = g·σ(g)·u, elementwise over the gate and up projections [T, F]
//
// One element per invocation over a folded 2-D grid (grid1d), so any length fits the dispatch limits. The
// value (silu_times) is shaders/lib/swiglu_common.wgsl's: quantized up projections compute h in their
// epilogue instead (src/ops/linear.ts `gated`); this kernel serves f32 weights.

const WG: u32 = 64u;

struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> g: array<f32>;
@group(0) @binding(1) var<storage, read> u: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i >= p.n) { return; }
  h[i] = silu_times(g[i], u[i]);
}
