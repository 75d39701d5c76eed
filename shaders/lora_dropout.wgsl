// lora_dropout: dst (=|+=) src ⊙ keep(seed, token, feature) / (1 − p), the LoRA branch's input dropout
//
// The mask is a pure function of (seed, token, feature), never stored: the forward pass applies it to x and
// the backward pass recomputes the identical mask for dA (masked x again) and dx (masked dh·A), so the two
// always agree and no T×in mask tensor has to live between them. src/reference/lora.ts implements the same
// hash bit for bit. keep ⇔ (hash >> 8) ≥ threshold, threshold = round(p·2²⁴), i.e. P(keep) = 1 − p.

override ACCUMULATE: bool = false; // dst += result: dx of the base layer already holds W's contribution

const WG: u32 = 64u;

// Row groups (MeTA-LoRA's tasks in one batch, each padded to the batch's seq): group g owns rows
// g·group_rows… and hashes its row (b, i) as b·seqs[g].y + i with seed seqs[g].x, exactly the row and seed
// it had when it ran alone. One dispatch covers groups first_group… (count elements, at most 28 groups:
// the table fills the 256-byte uniform slot); an ungrouped call is one group whose seq equals its rows.
struct Params {
  count: u32, cols: u32, threshold: u32, scale: f32, // scale = 1 / (1 − p), so E[dropout(x)] = x
  group_rows: u32, seq: u32, first_group: u32, _pad0: u32,
  seeds: array<vec4<u32>, 14>, // (seed, own seq) of group first_group + 2k in .xy, of the next in .zw
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

fn keep(seed: u32, token: u32, feature: u32) -> bool {
  let h = pcg(pcg(pcg(feature) ^ token) ^ seed);
  return (h >> 8u) >= p.threshold;
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let k = gid.x + gid.y * nwg.x * WG; // grid1d folding
  if (k >= p.count) { return; }
  let i = k + p.first_group * p.group_rows * p.cols;
  let row = k / p.cols;
  let local = row / p.group_rows; // group within this dispatch
  let in_group = row % p.group_rows;
  let pair = p.seeds[local / 2u];
  let own = select(pair.xy, pair.zw, local % 2u == 1u);
  let token = (in_group / p.seq) * own.y + in_group % p.seq;
  let v = select(0.0, src[i] * p.scale, keep(own.x, token, i % p.cols));
  if (ACCUMULATE) { dst[i] += v; } else { dst[i] = v; }
}
