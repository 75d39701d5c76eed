// splitk_reduce: out[i] = alpha·Σ_z part[z·part_stride + i] (+ out[i]), the second pass of split-K
//
// Sums the per-chunk partial products of lora_token_product in chunk order, one output per invocation, so
// the result is deterministic (no atomics, no float-order races).

override ACCUMULATE: bool = false; // out += result (gradient accumulation over micro-batches)

const WG: u32 = 64u;

struct Params {
  count: u32, parts: u32, part_stride: u32, alpha: f32,
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
  if (ACCUMULATE) { out[i] += p.alpha * s; } else { out[i] = p.alpha * s; }
}
