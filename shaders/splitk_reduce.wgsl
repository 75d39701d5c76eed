// splitk_reduce: the second pass of split-K for up to 8 products at once (src/ops/splitK.ts)
//
// Each job sums one token product's per-chunk partials in chunk order, one output per invocation, so the
// result is deterministic (no atomics, no float-order races) and equals one reduce per product bit for bit.
// A job's partials are [parts, groups, group_len] at part_off of `part`; group g's sums go to
// out[out_off + g·out_stride + j] (its own gradient copy). Jobs cover consecutive invocation ranges: job k
// owns [end of job k−1, end); unused table entries have end = 0.

override ACCUMULATE: bool = false; // out += result (gradient accumulation over micro-batches and layers)

const WG: u32 = 64u;
const MAX_JOBS: u32 = 8u;

struct Job {
  part_off: u32, parts: u32, count: u32, group_len: u32,
  out_stride: u32, out_off: u32, alpha: f32, end: u32,
}

@group(0) @binding(0) var<storage, read> part: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<uniform> jobs: array<Job, MAX_JOBS>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG; // grid1d folding
  var start = 0u;
  for (var k = 0u; k < MAX_JOBS; k++) {
    let job = jobs[k];
    if (i < job.end) {
      let e = i - start;
      var s = 0.0;
      for (var z = 0u; z < job.parts; z++) {
        s += part[job.part_off + z * job.count + e];
      }
      let o = job.out_off + (e / job.group_len) * job.out_stride + e % job.group_len;
      if (ACCUMULATE) { out[o] += job.alpha * s; } else { out[o] = job.alpha * s; }
      return;
    }
    start = job.end;
  }
}
