// decode_q8_0: W[n, k..k+3] in f32 from GGML Q8_0 (rows of K/32 blocks of 34 bytes: f16 scale d, 32 × int8 q;
// w = d·q, exact in f32). k % 4 == 0, n < N, k < K. For linear_tiled's staging (src/ops/linear.ts).

fn decode4(n: u32, k: u32) -> vec4<f32> {
  let start = n * p.row_bytes + (k / 32u) * 34u;
  let q = word_at(start + 2u + k % 32u);
  // Each byte moved to the top and shifted back down arithmetically: sign-extended int8.
  let v = bitcast<vec4<i32>>(vec4<u32>(q << 24u, q << 16u, q << 8u, q)) >> vec4<u32>(24u);
  return vec4<f32>(v) * half_at(start);
}
