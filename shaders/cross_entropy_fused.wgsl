// cross_entropy_fused: per-row softmax cross-entropy over logits [T, V] and, in the same pass, its
// gradient dlogits = grad_scale·(softmax − onehot(target)) written over the logits
//
// One workgroup per row: vocabularies are long (49152), so the row is split across WG invocations with
// strided reads and two tree reductions in workgroup memory (max, then Σ exp(l − max)): the max
// subtraction keeps exp from overflowing, and a separate max pass gives one exp per element and a tight
// error bound (online rescaling would diverge per element on SIMD and compound exp errors).
// Targets < 0 (−1: prompt or padding) or ≥ V are ignored: loss 0, gradient row 0, and the row is skipped
// without reading its logits, which matters as most tokens of a fine-tuning batch are prompt.
// In place: logits are dead once the loss is known and [T, V] is the largest activation of the model.
// The loss uses the target logit read by the invocation that later overwrites it, so no other invocation
// races with that write. WRITE_GRAD = false computes only the loss (evaluation) and leaves logits intact.

override WRITE_GRAD: bool = true;

// Invocations per row, a power of two: small on CPU adapters, where each extra invocation costs a
// fiber switch at every barrier; wider on GPUs, where the row is read in coalesced strides.
override WG: u32 = 64u;
const F32_LOWEST: f32 = -0x1.fffffep+127f; // -FLT_MAX: below any finite logit

// Rows first_row..T−1: a batch of row groups (MeTA-LoRA's tasks) runs one dispatch per group, each with its
// own grad_scale (1 / that group's scored tokens).
struct Params { T: u32, V: u32, grad_scale: f32, first_row: u32 }

@group(0) @binding(0) var<storage, read_write> logits: array<f32>; // dlogits on return when WRITE_GRAD
@group(0) @binding(1) var<storage, read> targets: array<i32>;
@group(0) @binding(2) var<storage, read_write> losses: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> partial: array<f32, WG>;
var<workgroup> row_target: i32;
var<workgroup> target_logit: f32;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) tid: u32) {
  let row = p.first_row + wid.x + wid.y * nwg.x;
  if (row >= p.T) { return; } // uniform across the workgroup
  let base = row * p.V;

  if (tid == 0u) { row_target = targets[row]; }
  let tgt = workgroupUniformLoad(&row_target); // uniform, so the masked-row exit keeps barriers uniform
  if (tgt < 0 || u32(tgt) >= p.V) {
    if (tid == 0u) { losses[row] = 0.0; }
    if (WRITE_GRAD) {
      for (var i = tid; i < p.V; i += WG) { logits[base + i] = 0.0; }
    }
    return;
  }

  var m = F32_LOWEST;
  for (var i = tid; i < p.V; i += WG) { m = max(m, logits[base + i]); }
  partial[tid] = m;
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { partial[tid] = max(partial[tid], partial[tid + stride]); }
    workgroupBarrier();
  }
  let row_max = partial[0];
  workgroupBarrier(); // everyone has read the max before partial is reused for the sums

  var s = 0.0;
  for (var i = tid; i < p.V; i += WG) { s += exp(logits[base + i] - row_max); }
  partial[tid] = s;
  if (u32(tgt) % WG == tid) { target_logit = logits[base + u32(tgt)]; } // the same invocation writes it below
  workgroupBarrier();
  for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
    if (tid < stride) { partial[tid] += partial[tid + stride]; }
    workgroupBarrier();
  }
  let lse = row_max + log(partial[0]);
  if (tid == 0u) { losses[row] = lse - target_logit; }

  if (WRITE_GRAD) {
    for (var i = tid; i < p.V; i += WG) {
      let prob = exp(logits[base + i] - lse);
      logits[base + i] = p.grad_scale * select(prob, prob - 1.0, i == u32(tgt));
    }
  }
}
