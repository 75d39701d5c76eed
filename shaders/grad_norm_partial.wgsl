// grad_norm_partial: sums of squares of one tensor, one partial per chunk of WG·PER_THREAD elements
//
// First level of a deterministic two-level reduction for global gradient-norm clipping (no float atomics
// in WGSL): each workgroup owns a fixed chunk, every invocation sums PER_THREAD elements sequentially
// (strided by WG so neighbouring invocations read neighbouring words), then the workgroup reduces by a
// fixed tree. The partition depends only on the tensor's length, so the result is bit-for-bit repeatable.
// Partials of all tensors share one scratch buffer; `offset` is where this tensor's partials start.
// Workgroups are numbered across x·y (grid1d) for tensors with very many chunks.

override WG: u32 = 64u; // a power of two, for the tree
override PER_THREAD: u32 = 64u; // elements each invocation sums before the tree

struct Params { n: u32, offset: u32 }

@group(0) @binding(0) var<storage, read> grad: array<f32>;
@group(0) @binding(1) var<storage, read_write> partials: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let chunk = wid.x + wid.y * nwg.x;
  let start = chunk * WG * PER_THREAD;
  var s = 0.0;
  for (var k = 0u; k < PER_THREAD; k++) {
    let i = start + k * WG + lid.x;
    if (i < p.n) {
      let g = grad[i];
      s += g * g;
    }
  }
  sums[lid.x] = s;
  workgroupBarrier();
  // No early return above: every invocation must reach every barrier of the tree.
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { sums[lid.x] += sums[lid.x + stride]; }
    workgroupBarrier();
  }
  // grid1d may round the grid up: workgroups past the last chunk write nothing.
  if (lid.x == 0u && start < p.n) { partials[p.offset + chunk] = sums[0]; }
}
