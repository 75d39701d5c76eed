// matmul_blocked_vec4: C = alpha·op(A)·op(B) (+ C), register-blocked, vec4 loads along the contiguous axis
//
// The aligned specialisation of matmul_blocked: each invocation computes a 4×8 block of C, stepping K four at
// a time with one vec4 load per row of A (or per 4 columns of Aᵀ) and per 4 columns of B (or per row of Bᵀ).
// Requires K % 4 == 0, M % 4 == 0 when TRANS_A, N % 4 == 0 when !TRANS_B, and batch strides of A and B
// that are multiples of 4 (the host checks and otherwise uses matmul_blocked).
// Layouts (row-major): A is M×K, or K×M when TRANS_A; B is K×N, or N×K when TRANS_B.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;

const TM: u32 = 4u;
const TN: u32 = 8u;
const WG_X: u32 = 8u;
const WG_Y: u32 = 8u;

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  stride_a: u32, stride_b: u32, stride_c: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let base_a = gid.z * p.stride_a / 4u;
  let base_b = gid.z * p.stride_b / 4u;
  let base_c = gid.z * p.stride_c;
  let lm = p.M - 1u;
  let m1 = min(row0 + 1u, lm); let m2 = min(row0 + 2u, lm); let m3 = min(row0 + 3u, lm);
  // Column groups of 4 (the second one clamps to the first when N ends inside this block).
  let g0 = col0;
  let g1 = select(col0, col0 + 4u, col0 + 4u < p.N);
  let K4 = p.K / 4u;
  let M4 = p.M / 4u;
  let N4 = p.N / 4u;

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);

  let ln = p.N - 1u;
  for (var k4 = 0u; k4 < K4; k4++) {
    // a_i = op(A)[row_i][4·k4 .. 4·k4+3]
    var a0: vec4<f32>; var a1: vec4<f32>; var a2: vec4<f32>; var a3: vec4<f32>;
    if (TRANS_A) {
      // Aᵀ rows k hold 4 consecutive m: transpose the 4×4 block in registers.
      let t0 = A[base_a + (4u * k4) * M4 + row0 / 4u];
      let t1 = A[base_a + (4u * k4 + 1u) * M4 + row0 / 4u];
      let t2 = A[base_a + (4u * k4 + 2u) * M4 + row0 / 4u];
      let t3 = A[base_a + (4u * k4 + 3u) * M4 + row0 / 4u];
      a0 = vec4<f32>(t0.x, t1.x, t2.x, t3.x); a1 = vec4<f32>(t0.y, t1.y, t2.y, t3.y);
      a2 = vec4<f32>(t0.z, t1.z, t2.z, t3.z); a3 = vec4<f32>(t0.w, t1.w, t2.w, t3.w);
    } else {
      a0 = A[base_a + row0 * K4 + k4]; a1 = A[base_a + m1 * K4 + k4];
      a2 = A[base_a + m2 * K4 + k4]; a3 = A[base_a + m3 * K4 + k4];
    }
    // bj_lo / bj_hi = op(B)[4·k4 + j][g0..g0+3] / [g1..g1+3]. Named registers, no arrays: CPU JITs keep
    // them in vector registers only when nothing is indexed dynamically.
    var b0l: vec4<f32>; var b0h: vec4<f32>; var b1l: vec4<f32>; var b1h: vec4<f32>;
    var b2l: vec4<f32>; var b2h: vec4<f32>; var b3l: vec4<f32>; var b3h: vec4<f32>;
    if (TRANS_B) {
      // Bᵀ rows n hold 4 consecutive k: read 8 rows and transpose.
      let r0 = B[base_b + col0 * K4 + k4];
      let r1 = B[base_b + min(col0 + 1u, ln) * K4 + k4];
      let r2 = B[base_b + min(col0 + 2u, ln) * K4 + k4];
      let r3 = B[base_b + min(col0 + 3u, ln) * K4 + k4];
      let r4 = B[base_b + min(col0 + 4u, ln) * K4 + k4];
      let r5 = B[base_b + min(col0 + 5u, ln) * K4 + k4];
      let r6 = B[base_b + min(col0 + 6u, ln) * K4 + k4];
      let r7 = B[base_b + min(col0 + 7u, ln) * K4 + k4];
      b0l = vec4<f32>(r0.x, r1.x, r2.x, r3.x); b0h = vec4<f32>(r4.x, r5.x, r6.x, r7.x);
      b1l = vec4<f32>(r0.y, r1.y, r2.y, r3.y); b1h = vec4<f32>(r4.y, r5.y, r6.y, r7.y);
      b2l = vec4<f32>(r0.z, r1.z, r2.z, r3.z); b2h = vec4<f32>(r4.z, r5.z, r6.z, r7.z);
      b3l = vec4<f32>(r0.w, r1.w, r2.w, r3.w); b3h = vec4<f32>(r4.w, r5.w, r6.w, r7.w);
    } else {
      let row = base_b + 4u * k4 * N4;
      b0l = B[row + g0 / 4u]; b0h = B[row + g1 / 4u];
      b1l = B[row + N4 + g0 / 4u]; b1h = B[row + N4 + g1 / 4u];
      b2l = B[row + 2u * N4 + g0 / 4u]; b2h = B[row + 2u * N4 + g1 / 4u];
      b3l = B[row + 3u * N4 + g0 / 4u]; b3h = B[row + 3u * N4 + g1 / 4u];
    }
    c00 = fma(vec4<f32>(a0.x), b0l, c00); c01 = fma(vec4<f32>(a0.x), b0h, c01);
    c10 = fma(vec4<f32>(a1.x), b0l, c10); c11 = fma(vec4<f32>(a1.x), b0h, c11);
    c20 = fma(vec4<f32>(a2.x), b0l, c20); c21 = fma(vec4<f32>(a2.x), b0h, c21);
    c30 = fma(vec4<f32>(a3.x), b0l, c30); c31 = fma(vec4<f32>(a3.x), b0h, c31);
    c00 = fma(vec4<f32>(a0.y), b1l, c00); c01 = fma(vec4<f32>(a0.y), b1h, c01);
    c10 = fma(vec4<f32>(a1.y), b1l, c10); c11 = fma(vec4<f32>(a1.y), b1h, c11);
    c20 = fma(vec4<f32>(a2.y), b1l, c20); c21 = fma(vec4<f32>(a2.y), b1h, c21);
    c30 = fma(vec4<f32>(a3.y), b1l, c30); c31 = fma(vec4<f32>(a3.y), b1h, c31);
    c00 = fma(vec4<f32>(a0.z), b2l, c00); c01 = fma(vec4<f32>(a0.z), b2h, c01);
    c10 = fma(vec4<f32>(a1.z), b2l, c10); c11 = fma(vec4<f32>(a1.z), b2h, c11);
    c20 = fma(vec4<f32>(a2.z), b2l, c20); c21 = fma(vec4<f32>(a2.z), b2h, c21);
    c30 = fma(vec4<f32>(a3.z), b2l, c30); c31 = fma(vec4<f32>(a3.z), b2h, c31);
    c00 = fma(vec4<f32>(a0.w), b3l, c00); c01 = fma(vec4<f32>(a0.w), b3h, c01);
    c10 = fma(vec4<f32>(a1.w), b3l, c10); c11 = fma(vec4<f32>(a1.w), b3h, c11);
    c20 = fma(vec4<f32>(a2.w), b3l, c20); c21 = fma(vec4<f32>(a2.w), b3h, c21);
    c30 = fma(vec4<f32>(a3.w), b3l, c30); c31 = fma(vec4<f32>(a3.w), b3h, c31);
  }

  store_row(base_c, row0, col0, c00, c01);
  store_row(base_c, row0 + 1u, col0, c10, c11);
  store_row(base_c, row0 + 2u, col0, c20, c21);
  store_row(base_c, row0 + 3u, col0, c30, c31);
}

fn store_row(base: u32, m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= p.M) { return; }
  let v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < TN; j++) {
    if (n + j < p.N) {
      let i = base + m * p.N + n + j;
      if (ACCUMULATE) { C[i] += p.alpha * v[j]; } else { C[i] = p.alpha * v[j]; }
    }
  }
}
