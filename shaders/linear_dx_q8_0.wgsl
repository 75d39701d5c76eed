// name: linear_dx_q8_0: dx = alpha·dy·W (+ dx), the input gradient through a frozen GGML Q8_0 weight
//
// W is N×K in Q8_0 (rows of K/32 blocks of 34 bytes: f16 scale d, 32 × int8 q; w = d·q). The kernel is
// shaders/lib/linear_dx_quant.wgsl (shared with linear_dx_q4_0); this file is how Q8_0 stores its weights.

const BLOCK_BYTES: u32 = 34u;

// Weight r of a block is quant byte r.
fn quant_byte(r: u32) -> u32 {
  return r;
}

// Byte i of a word moves to the top with a left shift of 24 − 8i, whatever r.
fn shifts(r: u32) -> vec4<u32> {
  return vec4<u32>(24u, 16u, 8u, 0u);
}

// The 4 bytes of a word, sign-extended: int8 → f32 (exact).
fn weights4(q: u32, shift: vec4<u32>) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(q) << shift) >> vec4<u32>(24u));
}
