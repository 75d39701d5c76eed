// gemv_q8_0: linear_gemv's weights k … k+7 of a GGML Q8_0 row (blocks of 34 bytes: f16 scale d, 32 × int8 q;
// w = d·q, exact in f32): the block's scale and two words of quants, sign-extended with vector shifts.

const Q8_BLOCK_BYTES: u32 = 34u;

fn weights8(row: u32, k: u32) -> Unit8 {
  let block = row + (k / 32u) * Q8_BLOCK_BYTES;
  let d = unpack2x16float(word_at(block) & 0xffffu).x;
  let q = block + 2u + k % 32u;
  return Unit8(int8s(word_at(q)) * d, int8s(word_at(q + 4u)) * d);
}

// The four int8 of a word, little-endian, as f32.
fn int8s(w: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(w) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}
