// cross_entropy_reduce: total[0] = Σ per-row losses, total[1] = number of rows with a target in [0, V)
//
// WGSL has no float atomics, so the [T] losses are summed by a single workgroup in a second dispatch:
// strided partial sums, then a tree reduction. T is at most a few thousand tokens, so one workgroup is
// cheap, and the result stays on the GPU (the trainer reads the scalar only when it logs).

const WG: u32 = 128u;

struct Params { T: u32, V: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32) {
  var acc = vec2<f32>(0.0);
  for (var t = tid; t < p.T; t += WG) {
    let tgt = targets[t];
    if (tgt >= 0 && u32(tgt) < p.V) { acc += vec2<f32>(losses[t], 1.0); }
  }
  partial[tid] = acc;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }
  if (tid == 0u) {
    total[0] = partial[0].x;
    total[1] = partial[0].y;
  }
}
