// mtl_lora_grad_w: dw (=|+=) π ⊙ (dπ − Σ_j π_j dπ_j) / τ with dπ_i = Σ B^i ⊙ G, G = s·dyᵀ·z
//
// The mixing-logit gradient through the tempered softmax. dπ_i = s·Σ_tokens dy·(B^i z) equals the
// Frobenius product of B^i with G, so it needs no pass over the tokens. One workgroup does everything:
// each dπ_i is a strided sum per invocation, then a fixed-shape tree in workgroup memory (deterministic,
// no atomics); invocation 0 keeps the dπ_i in `dpi` and finishes the softmax backward (n is a handful).

override ACCUMULATE: bool = false; // dw += result (gradient accumulation over micro-batches)

const WG: u32 = 64u;

struct Params {
  size: u32, n: u32, inv_tau: f32, _pad: u32, // size = out·r
}

@group(0) @binding(0) var<storage, read> pi: array<f32>;         // [n]
@group(0) @binding(1) var<storage, read> bs: array<f32>;         // [n, out, r]
@group(0) @binding(2) var<storage, read> g: array<f32>;          // [out, r]
@group(0) @binding(3) var<storage, read_write> dpi: array<f32>;  // [n] scratch, read back by invocation 0
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;   // [n]
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var i = 0u; i < p.n; i++) {
    var s = 0.0;
    for (var e = lid; e < p.size; e += WG) { s = fma(bs[i * p.size + e], g[e], s); }
    partial[lid] = s;
    workgroupBarrier();
    for (var half = WG / 2u; half > 0u; half /= 2u) {
      if (lid < half) { partial[lid] += partial[lid + half]; }
      workgroupBarrier();
    }
    if (lid == 0u) { dpi[i] = partial[0]; }
    workgroupBarrier(); // partial is reused by the next i
  }
  if (lid != 0u) { return; }
  var mean = 0.0; // Σ_j π_j dπ_j: the softmax Jacobian's rank-one part
  for (var j = 0u; j < p.n; j++) { mean = fma(pi[j], dpi[j], mean); }
  for (var j = 0u; j < p.n; j++) {
    let v = pi[j] * (dpi[j] - mean) * p.inv_tau;
    if (ACCUMULATE) { dw[j] += v; } else { dw[j] = v; }
  }
}
