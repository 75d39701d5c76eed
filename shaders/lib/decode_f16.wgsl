// decode_f16: W[n, k..k+3] in f32 from IEEE half (or bfloat16 under BF16: linear_common's widen2) (row-major N×K, two per word), zeros past K (any K: rows
// may start mid-word when K is odd). k % 4 == 0, n < N, k < K. For linear_tiled's staging (src/ops/linear.ts).

fn decode4(n: u32, k: u32) -> vec4<f32> {
  let a = (n * p.K + k) * 2u; // byte offset
  if (k + 4u <= p.K && (a & 2u) == 0u) {
    let i = a >> 2u;
    return vec4<f32>(widen2(W[i]), widen2(W[i + 1u]));
  }
  var v = vec4<f32>(0.0);
  for (var c = 0u; c < min(4u, p.K - k); c++) { v[c] = weight16_at(a + 2u * c); }
  return v;
}
