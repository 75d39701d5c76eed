// matmul_tiled: C = alpha·op(A)·op(B) (+ C), shared-memory tiled
//
// A 16×16 workgroup computes a 64×64 tile of C, each invocation 4×4 outputs. For every BK=16 slice of K the
// workgroup stages op(A) (64×16) and op(B) (16×64) in workgroup memory, transposing as it loads, so the
// inner loop is the same for every layout. Out-of-range elements load as zero. This is the variant real GPUs
// want; CPU adapters prefer matmul_blocked.
// Layouts (row-major): A is M×K, or K×M when TRANS_A; B is K×N, or N×K when TRANS_B.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;

const BM: u32 = 64u;
const BN: u32 = 64u;
const BK: u32 = 16u;
const T: u32 = 16u; // invocations per side; each computes (BM/T)×(BN/T) = 4×4 outputs

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  stride_a: u32, stride_b: u32, stride_c: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> As: array<array<f32, BM>, BK>; // As[k][m] = op(A)[m][k]
var<workgroup> Bs: array<array<f32, BN>, BK>; // Bs[k][n] = op(B)[k][n]

fn a_at(base: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) { return 0.0; }
  if (TRANS_A) { return A[base + k * p.M + m]; }
  return A[base + m * p.K + k];
}

fn b_at(base: u32, k: u32, n: u32) -> f32 {
  if (k >= p.K || n >= p.N) { return 0.0; }
  if (TRANS_B) { return B[base + n * p.K + k]; }
  return B[base + k * p.N + n];
}

@compute @workgroup_size(T, T, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let base_a = wg.z * p.stride_a;
  let base_b = wg.z * p.stride_b;
  let base_c = wg.z * p.stride_c;
  let tile_m = wg.y * BM;
  let tile_n = wg.x * BN;

  var acc: array<vec4<f32>, 4>;
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    // 256 invocations load 64×16 values of each operand: 4 each. The fastest-varying index follows
    // the operand's memory layout so neighbouring invocations read neighbouring addresses.
    for (var r = 0u; r < 4u; r++) {
      let e = li + r * T * T; // 0..1023
      if (TRANS_A) { let k = e / BM; let m = e % BM; As[k][m] = a_at(base_a, tile_m + m, k0 + k); }
      else { let m = e / BK; let k = e % BK; As[k][m] = a_at(base_a, tile_m + m, k0 + k); }
      if (TRANS_B) { let n = e / BK; let k = e % BK; Bs[k][n] = b_at(base_b, k0 + k, tile_n + n); }
      else { let k = e / BN; let n = e % BN; Bs[k][n] = b_at(base_b, k0 + k, tile_n + n); }
    }
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let bv = vec4<f32>(Bs[k][lid.x * 4u], Bs[k][lid.x * 4u + 1u], Bs[k][lid.x * 4u + 2u], Bs[k][lid.x * 4u + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = fma(vec4<f32>(As[k][lid.y * 4u + i]), bv, acc[i]);
      }
    }
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = tile_m + lid.y * 4u + i;
    if (m >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let n = tile_n + lid.x * 4u + j;
      if (n < p.N) {
        let idx = base_c + m * p.N + n;
        if (ACCUMULATE) { C[idx] += p.alpha * acc[i][j]; } else { C[idx] = p.alpha * acc[i][j]; }
      }
    }
  }
}
