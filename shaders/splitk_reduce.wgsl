// splitk_reduce: out[i] = alpha·Σ_z part[z·part_stride + i] (+ out[i]), the second pass of split-K
//
// Sums the per-chunk partial products of lora_token_product in chunk order, one output per invocation, so
// the result is deterministic (no atomics, no float-order races). With row groups the partials are
// [chunks, groups, group_len] and group g's sums go to out[g·out_stride + j] (its own gradient copy).

override ACCUMULATE: bool = false; // out += result (gradient accumulation over micro-batches)

const WG: u32 = 64u;

struct Params {
  count: u32, parts: u32, part_stride: u32, alpha: f32,
  group_len: u32, out_stride: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG; // grid1d folding
  if (i >= p.count) { return; }
  var s = 0.0;
  for (var z = 0u; z < p.parts; z++) {
    s += part[z * p.part_stride + i];
  }
  let o = (i / p.group_len) * p.out_stride + i % p.group_len;
  if (ACCUMULATE) { out[o] += p.alpha * s; } else { out[o] = p.alpha * s; }
}
