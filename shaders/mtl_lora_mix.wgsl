// mtl_lora_mix: π = softmax(w / τ) and B_mix = Σ_i π_i·B^i, the per-task mixture of MTL-LoRA's up-projections
//
// Mixing the n small B^i [out, r] once per call (out·r·n work) lets the token-sized product use one matmul
// with B_mix instead of n. Every invocation recomputes the softmax (n is a handful) so no second pass or
// barrier is needed; invocation 0 also stores π for the backward. Subtracting the max keeps exp finite for
// any temperature.

const WG: u32 = 64u;

struct Params {
  size: u32, n: u32, inv_tau: f32, _pad: u32, // size = out·r, the elements of one B^i
}

@group(0) @binding(0) var<storage, read> w: array<f32>;         // [n] this task's mixing logits
@group(0) @binding(1) var<storage, read> bs: array<f32>;        // [n, out, r]
@group(0) @binding(2) var<storage, read_write> pi: array<f32>;  // [n]
@group(0) @binding(3) var<storage, read_write> bmix: array<f32>; // [out, r]
@group(0) @binding(4) var<uniform> p: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG; // grid1d folding
  if (e >= p.size) { return; }
  var m = w[0] * p.inv_tau;
  for (var i = 1u; i < p.n; i++) { m = max(m, w[i] * p.inv_tau); }
  var total = 0.0;
  for (var i = 0u; i < p.n; i++) { total += exp(w[i] * p.inv_tau - m); }
  var acc = 0.0;
  for (var i = 0u; i < p.n; i++) {
    let pi_i = exp(w[i] * p.inv_tau - m) / total;
    if (e == 0u) { pi[i] = pi_i; }
    acc = fma(pi_i, bs[i * p.size + e], acc);
  }
  bmix[e] = acc;
}
