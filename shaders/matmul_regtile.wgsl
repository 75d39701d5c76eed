// matmul_regtile: C = alpha·op(A)·op(B) (+ C), workgroup-memory tiles with an 8×8 register tile per invocation
//
// The GPU variant of matmul_tiled, shaped for what limits a real GPU's GEMM: a WG×WG workgroup computes a
// (8·WG)×(8·WG) tile of C, each invocation 8×8 outputs (16 vec4 accumulators). Per step of BK along K the
// workgroup stages op(A) and op(B) k-major in workgroup memory as vec4 rows padded by one vec4 (the
// transposing stores of a k-contiguous operand land in distinct banks), and every k of the inner loop reads
// 2 vec4 of A and 2 vec4 of B for 64 FMAs: 1 workgroup load per 16 FMAs (matmul_tiled: 1 per 2), and no bank
// conflicts, because the 8 columns are split in two vec4 halves BN/2 apart, so neighbouring invocations read
// neighbouring vec4. Global traffic per FMA is 4·(BM+BN)/(BM·BN) bytes: 0.125 at WG 8, 0.0625 at WG 16.
// The next slice is fetched into registers before the current one is multiplied (one buffer of workgroup
// memory, the global latency hidden behind the FMAs).
// Operands are read through `load4_a` / `load4_b` (shaders/lib/matmul_operands_{vec4,f32}.wgsl, chosen by
// src/ops/matmul.ts): 4 elements along each operand's contiguous dimension, one vec4 load when every row and
// batch offset is a multiple of 4, else 4 guarded scalar loads. Out-of-range elements load as zero.
// Layouts (row-major): A is M×K, or K×M when TRANS_A; B is K×N, or N×K when TRANS_B.

override TRANS_A: bool = false;
override TRANS_B: bool = false;
override ACCUMULATE: bool = false;
override WG: u32 = 8u; // invocations per side: the tile is 8·WG square
override BK: u32 = 16u; // K per staged slice; (BM·BK/4) / WG² = 2·BK/WG ≤ 4 vec4 per invocation per operand

struct Params {
  M: u32, N: u32, K: u32, alpha: f32,
  stride_a: u32, stride_b: u32, stride_c: u32, _pad: u32,
}

@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// Row k of a staged operand: 2·WG vec4 (8·WG values along m or n) and one vec4 of padding.
override ROW: u32 = 2u * WG + 1u;
var<workgroup> As: array<vec4<f32>, BK * ROW>; // As[k·ROW + m/4][m%4] = op(A)[m][k]
var<workgroup> Bs: array<vec4<f32>, BK * ROW>; // Bs[k·ROW + n/4][n%4] = op(B)[k][n]

// Where the e-th vec4 of a staged (8·WG)×BK slice comes from: `line` (m or n) and `k`, and whether the
// operand is contiguous along k (its 4 values are 4 k of one line) or along the line (4 lines of one k).
struct Slot { line: u32, k: u32, along_k: bool }

fn slot(e: u32, along_k: bool) -> Slot {
  // Consecutive invocations read consecutive addresses either way.
  if (along_k) { return Slot(e / (BK / 4u), (e % (BK / 4u)) * 4u, true); }
  return Slot((e % (2u * WG)) * 4u, e / (2u * WG), false);
}

// 4 values of op(X) at slot s of the slice at (line0, k0): X's row-major layout is rows × cols, row_len long.
fn fetch(s: Slot, line0: u32, k0: u32, lines: u32, is_a: bool, base: u32) -> vec4<f32> {
  let line = line0 + s.line;
  let k = k0 + s.k;
  var row = line; var col = k; var rows = lines; var cols = p.K;
  if (!s.along_k) { row = k; col = line; rows = p.K; cols = lines; }
  if (row >= rows || col >= cols) { return vec4<f32>(0.0); }
  let valid = min(4u, cols - col);
  if (is_a) { return load4_a(base + row * cols + col, valid); }
  return load4_b(base + row * cols + col, valid);
}

fn stash_a(s: Slot, v: vec4<f32>) {
  if (s.along_k) {
    let i = s.k * ROW + s.line / 4u;
    let c = s.line % 4u;
    As[i][c] = v.x; As[i + ROW][c] = v.y; As[i + 2u * ROW][c] = v.z; As[i + 3u * ROW][c] = v.w;
  } else {
    As[s.k * ROW + s.line / 4u] = v;
  }
}

fn stash_b(s: Slot, v: vec4<f32>) {
  if (s.along_k) {
    let i = s.k * ROW + s.line / 4u;
    let c = s.line % 4u;
    Bs[i][c] = v.x; Bs[i + ROW][c] = v.y; Bs[i + 2u * ROW][c] = v.z; Bs[i + 3u * ROW][c] = v.w;
  } else {
    Bs[s.k * ROW + s.line / 4u] = v;
  }
}

@compute @workgroup_size(WG, WG, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let base_a = wg.z * p.stride_a;
  let base_b = wg.z * p.stride_b;
  let base_c = wg.z * p.stride_c;
  let tile_m = wg.y * 8u * WG;
  let tile_n = wg.x * 8u * WG;
  let loads = 2u * BK / WG; // vec4 per invocation per operand
  // op(A) is contiguous along k unless transposed; op(B) along k only when transposed.
  let a_along_k = !TRANS_A;
  let b_along_k = TRANS_B;

  var pa: array<vec4<f32>, 4>;
  var pb: array<vec4<f32>, 4>;
  var acc: array<vec4<f32>, 16>; // acc[2i + h]: row i (0..3: 4·ly + i, 4..7: BM/2 + 4·ly + i−4), column half h
  // Step s stages slice s−1 (fetched into registers during step s−1), fetches slice s, then multiplies
  // slice s−1: the fetch's latency is hidden behind the FMAs. One fetch and one stash site keep the shader
  // small (SwiftShader compiles each inlined copy of them at some cost).
  let slices = (p.K + BK - 1u) / BK;
  for (var s = 0u; s <= slices; s++) {
    if (s > 0u) {
      for (var r = 0u; r < loads; r++) {
        let e = li + r * WG * WG;
        stash_a(slot(e, a_along_k), pa[r]);
        stash_b(slot(e, b_along_k), pb[r]);
      }
      workgroupBarrier();
    }
    if (s < slices) {
      for (var r = 0u; r < loads; r++) {
        let e = li + r * WG * WG;
        pa[r] = fetch(slot(e, a_along_k), tile_m, s * BK, p.M, true, base_a);
        pb[r] = fetch(slot(e, b_along_k), tile_n, s * BK, p.N, false, base_b);
      }
    }
    if (s > 0u) {
      for (var k = 0u; k < BK; k++) {
        let a0 = As[k * ROW + lid.y]; let a1 = As[k * ROW + WG + lid.y];
        let b0 = Bs[k * ROW + lid.x]; let b1 = Bs[k * ROW + WG + lid.x];
        acc[0] = fma(vec4<f32>(a0.x), b0, acc[0]); acc[1] = fma(vec4<f32>(a0.x), b1, acc[1]);
        acc[2] = fma(vec4<f32>(a0.y), b0, acc[2]); acc[3] = fma(vec4<f32>(a0.y), b1, acc[3]);
        acc[4] = fma(vec4<f32>(a0.z), b0, acc[4]); acc[5] = fma(vec4<f32>(a0.z), b1, acc[5]);
        acc[6] = fma(vec4<f32>(a0.w), b0, acc[6]); acc[7] = fma(vec4<f32>(a0.w), b1, acc[7]);
        acc[8] = fma(vec4<f32>(a1.x), b0, acc[8]); acc[9] = fma(vec4<f32>(a1.x), b1, acc[9]);
        acc[10] = fma(vec4<f32>(a1.y), b0, acc[10]); acc[11] = fma(vec4<f32>(a1.y), b1, acc[11]);
        acc[12] = fma(vec4<f32>(a1.z), b0, acc[12]); acc[13] = fma(vec4<f32>(a1.z), b1, acc[13]);
        acc[14] = fma(vec4<f32>(a1.w), b0, acc[14]); acc[15] = fma(vec4<f32>(a1.w), b1, acc[15]);
      }
      workgroupBarrier(); // everyone is done reading the slice before the next is staged
    }
  }

  for (var i = 0u; i < 8u; i++) {
    let m = tile_m + select(4u * lid.y + i, 4u * WG + 4u * lid.y + i - 4u, i >= 4u);
    if (m >= p.M) { continue; }
    for (var h = 0u; h < 2u; h++) {
      let v = acc[2u * i + h];
      let n0 = tile_n + h * 4u * WG + 4u * lid.x;
      for (var j = 0u; j < 4u; j++) {
        let n = n0 + j;
        if (n < p.N) {
          let idx = base_c + m * p.N + n;
          if (ACCUMULATE) { C[idx] += p.alpha * v[j]; } else { C[idx] = p.alpha * v[j]; }
        }
      }
    }
  }
}
