// name: linear_dx_f16: dx = alpha·dy·W (+ dx), the input gradient through a frozen f16 or bf16 (BF16) weight
//
// dy is T×N f32, W is N×K IEEE half (row-major, two per u32 word), dx is T×K. Each invocation computes
// 16 rows × 8 consecutive columns of dx and walks the N rows of W, widening 4 words (8 halves) per row and
// adding 16 × 8 products (16 rows share each widened weight, as in the quantized variants). No workgroup
// memory: CPU adapters such as SwiftShader prefer register blocking.
// Any T, N, K. When K is odd, every other row starts mid-word and ODD_K funnels two words together; columns
// past K read the next row (or clamp at the end of W) and are never stored.

override ODD_K: bool = false;

const TM: u32 = 16u;

// ACCUMULATE, TN, WG_X, WG_Y, Params, W, OUT, p, gather and store_row: shaders/lib/linear_common.wgsl.
@group(0) @binding(0) var<storage, read> DY: array<f32>;

fn widen4(a: u32, b: u32) -> vec4<f32> {
  return vec4<f32>(widen2(a), widen2(b));
}

// The two halves at half index 2·i + odd: word i itself, or its high half and the next word's low half.
fn pair(i: u32, odd: bool, last: u32) -> u32 {
  let w = W[min(i, last)];
  if (!ODD_K) { return w; }
  return select(w, (w >> 16u) | (W[min(i + 1u, last)] << 16u), odd);
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.T || col0 >= p.K) { return; }
  let lm = p.T - 1u;
  let y0 = row0 * p.N;
  let y1 = min(row0 + 1u, lm) * p.N;
  let y2 = min(row0 + 2u, lm) * p.N;
  let y3 = min(row0 + 3u, lm) * p.N;
  let y4 = min(row0 + 4u, lm) * p.N;
  let y5 = min(row0 + 5u, lm) * p.N;
  let y6 = min(row0 + 6u, lm) * p.N;
  let y7 = min(row0 + 7u, lm) * p.N;
  let y8 = min(row0 + 8u, lm) * p.N;
  let y9 = min(row0 + 9u, lm) * p.N;
  let y10 = min(row0 + 10u, lm) * p.N;
  let y11 = min(row0 + 11u, lm) * p.N;
  let y12 = min(row0 + 12u, lm) * p.N;
  let y13 = min(row0 + 13u, lm) * p.N;
  let y14 = min(row0 + 14u, lm) * p.N;
  let y15 = min(row0 + 15u, lm) * p.N;
  let last = arrayLength(&W) - 1u;

  var c0_0 = vec4<f32>(0.0); var c0_1 = vec4<f32>(0.0);
  var c1_0 = vec4<f32>(0.0); var c1_1 = vec4<f32>(0.0);
  var c2_0 = vec4<f32>(0.0); var c2_1 = vec4<f32>(0.0);
  var c3_0 = vec4<f32>(0.0); var c3_1 = vec4<f32>(0.0);
  var c4_0 = vec4<f32>(0.0); var c4_1 = vec4<f32>(0.0);
  var c5_0 = vec4<f32>(0.0); var c5_1 = vec4<f32>(0.0);
  var c6_0 = vec4<f32>(0.0); var c6_1 = vec4<f32>(0.0);
  var c7_0 = vec4<f32>(0.0); var c7_1 = vec4<f32>(0.0);
  var c8_0 = vec4<f32>(0.0); var c8_1 = vec4<f32>(0.0);
  var c9_0 = vec4<f32>(0.0); var c9_1 = vec4<f32>(0.0);
  var c10_0 = vec4<f32>(0.0); var c10_1 = vec4<f32>(0.0);
  var c11_0 = vec4<f32>(0.0); var c11_1 = vec4<f32>(0.0);
  var c12_0 = vec4<f32>(0.0); var c12_1 = vec4<f32>(0.0);
  var c13_0 = vec4<f32>(0.0); var c13_1 = vec4<f32>(0.0);
  var c14_0 = vec4<f32>(0.0); var c14_1 = vec4<f32>(0.0);
  var c15_0 = vec4<f32>(0.0); var c15_1 = vec4<f32>(0.0);

  for (var o = 0u; o < p.N; o++) {
    let h = o * p.K + col0;
    let idx = h >> 1u;
    let odd = (h & 1u) != 0u;
    let lo = widen4(pair(idx, odd, last), pair(idx + 1u, odd, last));
    let hi = widen4(pair(idx + 2u, odd, last), pair(idx + 3u, odd, last));
    let g0 = vec4<f32>(DY[y0 + o]); c0_0 = fma(g0, lo, c0_0); c0_1 = fma(g0, hi, c0_1);
    let g1 = vec4<f32>(DY[y1 + o]); c1_0 = fma(g1, lo, c1_0); c1_1 = fma(g1, hi, c1_1);
    let g2 = vec4<f32>(DY[y2 + o]); c2_0 = fma(g2, lo, c2_0); c2_1 = fma(g2, hi, c2_1);
    let g3 = vec4<f32>(DY[y3 + o]); c3_0 = fma(g3, lo, c3_0); c3_1 = fma(g3, hi, c3_1);
    let g4 = vec4<f32>(DY[y4 + o]); c4_0 = fma(g4, lo, c4_0); c4_1 = fma(g4, hi, c4_1);
    let g5 = vec4<f32>(DY[y5 + o]); c5_0 = fma(g5, lo, c5_0); c5_1 = fma(g5, hi, c5_1);
    let g6 = vec4<f32>(DY[y6 + o]); c6_0 = fma(g6, lo, c6_0); c6_1 = fma(g6, hi, c6_1);
    let g7 = vec4<f32>(DY[y7 + o]); c7_0 = fma(g7, lo, c7_0); c7_1 = fma(g7, hi, c7_1);
    let g8 = vec4<f32>(DY[y8 + o]); c8_0 = fma(g8, lo, c8_0); c8_1 = fma(g8, hi, c8_1);
    let g9 = vec4<f32>(DY[y9 + o]); c9_0 = fma(g9, lo, c9_0); c9_1 = fma(g9, hi, c9_1);
    let g10 = vec4<f32>(DY[y10 + o]); c10_0 = fma(g10, lo, c10_0); c10_1 = fma(g10, hi, c10_1);
    let g11 = vec4<f32>(DY[y11 + o]); c11_0 = fma(g11, lo, c11_0); c11_1 = fma(g11, hi, c11_1);
    let g12 = vec4<f32>(DY[y12 + o]); c12_0 = fma(g12, lo, c12_0); c12_1 = fma(g12, hi, c12_1);
    let g13 = vec4<f32>(DY[y13 + o]); c13_0 = fma(g13, lo, c13_0); c13_1 = fma(g13, hi, c13_1);
    let g14 = vec4<f32>(DY[y14 + o]); c14_0 = fma(g14, lo, c14_0); c14_1 = fma(g14, hi, c14_1);
    let g15 = vec4<f32>(DY[y15 + o]); c15_0 = fma(g15, lo, c15_0); c15_1 = fma(g15, hi, c15_1);
  }

  store_row(row0 + 0u, col0, p.K, c0_0, c0_1);
  store_row(row0 + 1u, col0, p.K, c1_0, c1_1);
  store_row(row0 + 2u, col0, p.K, c2_0, c2_1);
  store_row(row0 + 3u, col0, p.K, c3_0, c3_1);
  store_row(row0 + 4u, col0, p.K, c4_0, c4_1);
  store_row(row0 + 5u, col0, p.K, c5_0, c5_1);
  store_row(row0 + 6u, col0, p.K, c6_0, c6_1);
  store_row(row0 + 7u, col0, p.K, c7_0, c7_1);
  store_row(row0 + 8u, col0, p.K, c8_0, c8_1);
  store_row(row0 + 9u, col0, p.K, c9_0, c9_1);
  store_row(row0 + 10u, col0, p.K, c10_0, c10_1);
  store_row(row0 + 11u, col0, p.K, c11_0, c11_1);
  store_row(row0 + 12u, col0, p.K, c12_0, c12_1);
  store_row(row0 + 13u, col0, p.K, c13_0, c13_1);
  store_row(row0 + 14u, col0, p.K, c14_0, c14_1);
  store_row(row0 + 15u, col0, p.K, c15_0, c15_1);
}
