// name: linear_dx_q4_0: dx = alpha·dy·W (+ dx), the input gradient through a frozen GGML Q4_0 weight
//
// W is N×K in Q4_0 (rows of K/32 blocks of 18 bytes: f16 scale d, 16 bytes b; weight j of a block is
// ((b[j] & 15) − 8)·d, weight j+16 is ((b[j] >> 4) − 8)·d). The kernel is shaders/lib/linear_dx_quant.wgsl
// (shared with linear_dx_q8_0); this file is how Q4_0 stores its weights.

const BLOCK_BYTES: u32 = 18u;

// Weights r < 16 are the low nibbles of quant bytes r.., weights r ≥ 16 the high nibbles of bytes r−16...
fn quant_byte(r: u32) -> u32 {
  return r % 16u;
}

// Nibble of byte i: a right shift of 8i, plus 4 for the high nibbles (weights 16..31).
fn shifts(r: u32) -> vec4<u32> {
  return vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(select(0u, 4u, r >= 16u));
}

// The nibbles `shift` bits up in each byte of a word, as n − 8 (exact).
fn weights4(q: u32, shift: vec4<u32>) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(q) >> shift) & vec4<u32>(15u)) - vec4<f32>(8.0);
}
