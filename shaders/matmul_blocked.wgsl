// matmul_blocked: C = alpha·op(A)·op(B) (+ C), register-blocked without shared memory
//
// Each invocation computes a TM×TN = 4×8 block of C in eight vec4 accumulators, reading op(A) and op(B)
// straight from storage. On CPU adapters (SwiftShader) workgroup memory and barriers are expensive and
// caches do the reuse, so this beats shared-memory tiling there by a wide margin (docs/DESIGN.md §8).
// Any M, N, K: loads clamp to the last valid row/column and stores are guarded.
// Layouts (row-major): A is M×K, or K×M when TRANS_A; B is K×N, or N×K when TRANS_B.
// Batched: workgroup z selects the matrix; each operand has its own batch stride (0 broadcasts).

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false; // C += result instead of C = result (gradient accumulation)

const TM: u32 = 4u;
const TN: u32 = 8u;
const WG_X: u32 = 8u; // invocations along N
const WG_Y: u32 = 8u; // invocations along M

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  stride_a: u32, stride_b: u32, stride_c: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (TRANS_B) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
}

fn b_row4(base: u32, k: u32, n0: u32, n1: u32, n2: u32, n3: u32) -> vec4<f32> {
  return vec4<f32>(b_at(base, k, n0), b_at(base, k, n1), b_at(base, k, n2), b_at(base, k, n3));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.M || col0 >= p.N) { return; }
  let base_a = gid.z * p.stride_a;
  let base_b = gid.z * p.stride_b;
  let base_c = gid.z * p.stride_c;

  // Clamped indices: out-of-range rows/columns re-read valid data whose results are never stored.
  let lm = p.M - 1u;
  let ln = p.N - 1u;
  let m0 = row0; let m1 = min(row0 + 1u, lm); let m2 = min(row0 + 2u, lm); let m3 = min(row0 + 3u, lm);
  let n0 = col0; let n1 = min(col0 + 1u, ln); let n2 = min(col0 + 2u, ln); let n3 = min(col0 + 3u, ln);
  let n4 = min(col0 + 4u, ln); let n5 = min(col0 + 5u, ln); let n6 = min(col0 + 6u, ln); let n7 = min(col0 + 7u, ln);

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);

  for (var k = 0u; k < p.K; k++) {
    let b0 = b_row4(base_b, k, n0, n1, n2, n3);
    let b1 = b_row4(base_b, k, n4, n5, n6, n7);
    let a0 = a_at(base_a, m0, k);
    let a1 = a_at(base_a, m1, k);
    let a2 = a_at(base_a, m2, k);
    let a3 = a_at(base_a, m3, k);
    c00 = fma(vec4<f32>(a0), b0, c00); c01 = fma(vec4<f32>(a0), b1, c01);
    c10 = fma(vec4<f32>(a1), b0, c10); c11 = fma(vec4<f32>(a1), b1, c11);
    c20 = fma(vec4<f32>(a2), b0, c20); c21 = fma(vec4<f32>(a2), b1, c21);
    c30 = fma(vec4<f32>(a3), b0, c30); c31 = fma(vec4<f32>(a3), b1, c31);
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
