// mtl_lora_grad_b: dB^i (=|+=) π_i·G for every i, with G = s·dyᵀ·z [out, r] the gradient of B_mix
//
// B_mix = Σ π_i B^i is linear in each B^i, so all n gradients are scaled copies of the one token product G
// (computed once by split-K): n·out·r elementwise work instead of n reductions over the tokens.

override ACCUMULATE: bool = false; // dB += result (gradient accumulation over micro-batches)

const WG: u32 = 64u;

struct Params {
  size: u32, count: u32, _pad0: u32, _pad1: u32, // size = out·r, count = n·size
}

@group(0) @binding(0) var<storage, read> pi: array<f32>;        // [n]
@group(0) @binding(1) var<storage, read> g: array<f32>;         // [out, r]
@group(0) @binding(2) var<storage, read_write> dbs: array<f32>; // [n, out, r]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let j = gid.x + gid.y * nwg.x * WG; // grid1d folding
  if (j >= p.count) { return; }
  let v = pi[j / p.size] * g[j % p.size];
  if (ACCUMULATE) { dbs[j] += v; } else { dbs[j] = v; }
}
