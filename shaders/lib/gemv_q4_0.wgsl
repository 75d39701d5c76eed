// gemv_q4_0: linear_gemv's weights k … k+7 of a GGML Q4_0 row (blocks of 18 bytes: f16 scale d, 16 bytes b;
// weight j of a block is ((b[j] & 15) − 8)·d, weight j+16 is ((b[j] >> 4) − 8)·d, exact in f32): eight
// weights are the low or the high nibbles of eight consecutive bytes, two words.

const Q4_BLOCK_BYTES: u32 = 18u;

fn weights8(row: u32, k: u32) -> Unit8 {
  let block = row + (k / 32u) * Q4_BLOCK_BYTES;
  let d = unpack2x16float(word_at(block) & 0xffffu).x;
  let j = k % 32u;
  let q = block + 2u + j % 16u;
  let shift = select(0u, 4u, j >= 16u);
  return Unit8(nibbles(word_at(q), shift, d), nibbles(word_at(q + 4u), shift, d));
}

// The nibble `shift` bits up in each byte of a word, as (n − 8)·d.
fn nibbles(w: u32, shift: u32, d: f32) -> vec4<f32> {
  let n = (vec4<u32>(w) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(shift))) & vec4<u32>(15u);
  return (vec4<f32>(n) - 8.0) * d;
}
