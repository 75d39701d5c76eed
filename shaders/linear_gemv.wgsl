// name: linear_gemv: y = alpha·x·Wᵀ (+ y) for a few tokens (decoding), W frozen in f16 / Q8_0 / Q4_0
//
// Decoding one token runs every base projection with T = 1 (T ≤ 8 for batched or speculative steps). The
// training-shaped linear kernels give each invocation 8 tokens × 8 outputs and walk all of K alone: with
// T = 1, 7 of every 8 token rows are wasted and each output's whole row of W streams through one invocation.
// Here one workgroup of LANES invocations owns ROWS = 8 output rows (the linear epilogue's store_row width)
// and its invocations split K: invocation l decodes units l, l + LANES, … of 8 consecutive weights of each
// of its 8 rows (its own Q8_0/Q4_0 blocks or f16 words, through `weights8` from the weight type's include)
// and multiplies them with the TOKENS tokens' x, keeping 8 × TOKENS partial sums in registers (two vec4
// per token, so the sums across lanes move 4 outputs at a time). Neighbouring
// lanes read neighbouring units of a row, so a row streams from memory once, coalesced, and every weight is
// decoded exactly once per workgroup. The partials are then summed across the lanes (`reduce_put` /
// `reduce_finish`: a workgroup-memory tree, or subgroupAdd where the adapter has subgroups — one body, the
// reduction from an include), and invocation t stores token t's 8 outputs through store_row, so
// alpha, ACCUMULATE, the adapter's LOW_RANK product (row groups included) and the GATED SwiGLU output are
// the linear kernels' own epilogue.
// TOKENS is T (a pipeline per T: the loops over tokens unroll and the partials stay in registers).
// K % 8 == 0 (always for Q8_0/Q4_0; src/ops/linearGemv.ts sends other f16 shapes to the blocked kernel).
// Rows past N re-read row N − 1 (never stored).

// ACCUMULATE, LOW_RANK, GATED, Params, W, OUT, p, store_row: shaders/lib/linear_common.wgsl.
// weights8: shaders/lib/gemv_{f16,q8_0,q4_0}.wgsl; reduce_put, reduce_finish: shaders/lib/gemv_reduce_*.wgsl.

override TOKENS: u32 = 1u; // T, 1 … 8
const ROWS: u32 = 8u; // output rows per workgroup (= TN, store_row's width): two vec4 per token
// Invocations per workgroup, splitting K: a power of two, 64 unless K has fewer units of 8 (the host picks
// the smallest power of two covering them: idle lanes would only wait at the reduction's barriers).
override LANES: u32 = 64u;

@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;

// Partial sums across the lanes, slot 2t (token t, rows 0–3) and 2t + 1 (rows 4–7); after reduce_finish
// slot s's total is at red[s·LANES]. At most 16 KiB (T = 8, 64 lanes), WebGPU's guaranteed workgroup storage.
var<workgroup> red: array<vec4<f32>, 2u * TOKENS * LANES>;

// Weights k … k+7 of one row.
struct Unit8 { lo: vec4<f32>, hi: vec4<f32> }

// word_at (4 bytes at an even offset of W): shaders/lib/linear_common.wgsl.

// One row's unit times token t's x (xs[2t], xs[2t+1]).
fn dot8(w: Unit8, xl: vec4<f32>, xh: vec4<f32>) -> f32 {
  return dot(w.lo, xl) + dot(w.hi, xh);
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let row0 = wid.x * ROWS;
  let K4 = p.K / 4u;
  let last = p.N - 1u;
  var acc: array<vec4<f32>, 16>; // token t: rows 0–3 at 2t, rows 4–7 at 2t + 1
  for (var s = 0u; s < 2u * TOKENS; s++) { acc[s] = vec4<f32>(0.0); }
  for (var u = lane; u < p.K / 8u; u += LANES) {
    var xs: array<vec4<f32>, 16>; // x[t, 8u … 8u+7] as two vec4 per token
    for (var t = 0u; t < TOKENS; t++) {
      xs[2u * t] = X[t * K4 + 2u * u];
      xs[2u * t + 1u] = X[t * K4 + 2u * u + 1u];
    }
    for (var half = 0u; half < 2u; half++) {
      let r = row0 + 4u * half;
      let w0 = weights8(min(r, last) * p.row_bytes, 8u * u);
      let w1 = weights8(min(r + 1u, last) * p.row_bytes, 8u * u);
      let w2 = weights8(min(r + 2u, last) * p.row_bytes, 8u * u);
      let w3 = weights8(min(r + 3u, last) * p.row_bytes, 8u * u);
      for (var t = 0u; t < TOKENS; t++) {
        let xl = xs[2u * t];
        let xh = xs[2u * t + 1u];
        acc[2u * t + half] += vec4<f32>(dot8(w0, xl, xh), dot8(w1, xl, xh), dot8(w2, xl, xh), dot8(w3, xl, xh));
      }
    }
  }
  for (var s = 0u; s < 2u * TOKENS; s++) { reduce_put(s, lane, acc[s]); }
  workgroupBarrier();
  reduce_finish(lane);
  workgroupBarrier();
  // Token t's 8 outputs (fewer lanes than tokens when K is short: K = 32 has 4).
  for (var t = lane; t < TOKENS; t += LANES) {
    store_row(t, row0, p.N, red[2u * t * LANES], red[(2u * t + 1u) * LANES]);
  }
}
