// cross_entropy_reduce: total[0] = Σ per-row losses, total[1] = number of rows with a target in [0, V);
// per row group g (workgroup g, rows g·rows..(g+1)·rows − 1) into total[2g], total[2g + 1]
//
// WGSL has no float atomics, so the [T] losses are summed by a single workgroup in a second dispatch:
// strided partial sums, then a tree reduction. T is at most a few thousand tokens, so one workgroup is
// cheap, and the result stays on the GPU (the trainer reads the scalar only when it logs).

const WG: u32 = 128u;

struct Params { T: u32, V: u32, rows: u32, _pad1: u32 } // rows per group

@group(0) @binding(0) var<storage, read> losses: array<f32>;
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> total: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<vec2<f32>, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) tid: u32, @builtin(workgroup_id) wid: vec3<u32>) {
  let first = wid.x * p.rows;
  let end = min(first + p.rows, p.T);
  var acc = vec2<f32>(0.0);
  for (var t = first + tid; t < end; t += WG) {
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
    total[2u * wid.x] = partial[0].x;
    total[2u * wid.x + 1u] = partial[0].y;
  }
}
