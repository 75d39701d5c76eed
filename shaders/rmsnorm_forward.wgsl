// rmsnorm_forward: y = x · rrms · w per row of x [T, D], rrms = 1/sqrt(mean(x²) + eps), saved for backward
//
// One workgroup per row: each invocation sums the squares of a strided slice (so any D works and loads are
// coalesced on GPUs), then a tree reduction in workgroup memory gives the row's sum. Barriers cost on CPU
// adapters, but only log2(WG) of them per row, against D/WG multiply-adds per invocation.
// Rows are numbered across a 2-D grid (grid1d) so T may exceed maxComputeWorkgroupsPerDimension.

// Invocations per row, a power of two: small on CPU adapters, where each extra invocation costs a
// fiber switch at every barrier; wider on GPUs, where the row is read in coalesced strides.
override WG: u32 = 64u;

struct Params { T: u32, D: u32, eps: f32, _pad: u32 }

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> rrms: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.T) { return; } // uniform across the workgroup, so the barriers below stay uniform
  let base = row * p.D;

  var s = 0.0;
  for (var i = tid; i < p.D; i += WG) {
    let v = x[base + i];
    s = fma(v, v, s);
  }
  partial[tid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }

  // eps inside the square root, as LLaMA does (docs/DESIGN.md §5).
  let r = inverseSqrt(partial[0] / f32(p.D) + p.eps);
  if (tid == 0u) { rrms[row] = r; }
  for (var i = tid; i < p.D; i += WG) {
    y[base + i] = x[base + i] * r * w[i];
  }
}
