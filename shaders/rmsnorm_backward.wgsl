// rmsnorm_backward: dx = r·w⊙dy − x · r³/D · Σ_j dy_j·w_j·x_j per row, with r = rrms saved by the forward
//
// The weight w is frozen (no dw). The only coupling inside a row is the scalar Σ dy·w·x, so the layout is
// the forward's: one workgroup per row, strided partial sums, a tree reduction, then an elementwise pass.
// ACCUMULATE adds into dx: the residual stream already holds the gradient of the skip connection.

override ACCUMULATE: bool = false;

// Invocations per row, a power of two: small on CPU adapters, where each extra invocation costs a
// fiber switch at every barrier; wider on GPUs, where the row is read in coalesced strides.
override WG: u32 = 64u;

struct Params { T: u32, D: u32, _pad0: u32, _pad1: u32 }

@group(0) @binding(0) var<storage, read> dy: array<f32>;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> rrms: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = wid.x + wid.y * nwg.x;
  if (row >= p.T) { return; } // uniform across the workgroup
  let base = row * p.D;

  var s = 0.0;
  for (var i = tid; i < p.D; i += WG) {
    s = fma(dy[base + i] * w[i], x[base + i], s);
  }
  partial[tid] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }

  let r = rrms[row];
  let c = r * r * r * partial[0] / f32(p.D);
  for (var i = tid; i < p.D; i += WG) {
    let g = r * w[i] * dy[base + i] - c * x[base + i];
    if (ACCUMULATE) { dx[base + i] += g; } else { dx[base + i] = g; }
  }
}
