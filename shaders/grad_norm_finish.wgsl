// grad_norm_finish: total gradient norm and clip factor from the partial sums, in one workgroup
//
// Second level of the deterministic reduction begun by grad_norm_partial.wgsl: one workgroup folds all
// partials (of every tensor) in a fixed order, then writes {norm, min(1, max_norm / (norm + 1e-6))}, the
// factor of PyTorch's clip_grad_norm_. The optimizer kernels read the factor from this buffer, and the host
// reads the norm whenever it logs, so nothing is read back inside an iteration. A non-finite norm gives an
// unspecified factor: the trainer checks the buffer with param_nonfinite.wgsl and stops.

override WG: u32 = 64u; // a power of two, for the tree

struct Params { count: u32, max_norm: f32 }

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> result: array<f32>; // {norm, factor}
@group(0) @binding(2) var<uniform> p: Params;

var<workgroup> sums: array<f32, WG>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_id) lid: vec3<u32>) {
  var s = 0.0;
  for (var i = lid.x; i < p.count; i += WG) { s += partials[i]; }
  sums[lid.x] = s;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (lid.x < stride) { sums[lid.x] += sums[lid.x + stride]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) {
    let norm = sqrt(sums[0]);
    result[0] = norm;
    result[1] = min(1.0, p.max_norm / (norm + 1e-6));
  }
}
