// lora_dropout: dst (=|+=) src ⊙ keep(seed, token, feature) / (1 − p), the LoRA branch's input dropout
//
// The mask is a pure function of (seed, token, feature), never stored: the forward pass applies it to x and
// the backward pass recomputes the identical mask for dA (masked x again) and dx (masked dh·A), so the two
// always agree and no T×in mask tensor has to live between them. src/reference/lora.ts implements the same
// hash bit for bit. keep ⇔ (hash >> 8) ≥ threshold, threshold = round(p·2²⁴), i.e. P(keep) = 1 − p.

override ACCUMULATE: bool = false; // dst += result: dx of the base layer already holds W's contribution

const WG: u32 = 64u;

struct Params {
  count: u32, cols: u32, seed: u32, threshold: u32,
  scale: f32, _pad0: u32, _pad1: u32, _pad2: u32, // scale = 1 / (1 − p), so E[dropout(x)] = x
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

// PCG-RXS-M-XS 32-bit output permutation: a cheap hash whose low and high bits are both well mixed.
fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

fn keep(token: u32, feature: u32) -> bool {
  let h = pcg(pcg(pcg(feature) ^ token) ^ p.seed);
  return (h >> 8u) >= p.threshold;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG; // grid1d folding
  if (i >= p.count) { return; }
  let v = select(0.0, src[i] * p.scale, keep(i / p.cols, i % p.cols));
  if (ACCUMULATE) { dst[i] += v; } else { dst[i] = v; }
}
