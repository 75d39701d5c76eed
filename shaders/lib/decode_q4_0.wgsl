// decode_q4_0: W[n, k..k+3] in f32 from GGML Q4_0 (rows of K/32 blocks of 18 bytes: f16 scale d, 16 bytes b;
// weight j of a block is ((b[j] & 15) − 8)·d, weight j+16 is ((b[j] >> 4) − 8)·d, exact in f32). k % 4 == 0,
// n < N, k < K. For linear_tiled's staging (src/ops/linear.ts).

fn decode4(n: u32, k: u32) -> vec4<f32> {
  let start = n * p.row_bytes + (k / 32u) * 18u;
  let j = k % 32u;
  let q = word_at(start + 2u + j % 16u);
  let shift = vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(select(0u, 4u, j >= 16u));
  let nibbles = (vec4<u32>(q) >> shift) & vec4<u32>(15u);
  return (vec4<f32>(nibbles) - vec4<f32>(8.0)) * half_at(start);
}
