// gemv_f16: linear_gemv's weights k … k+7 of a row of IEEE halves (or bfloat16 under BF16: linear_common's
// widen2): 16 bytes, four words widened.

fn weights8(row: u32, k: u32) -> Unit8 {
  let b = row + 2u * k;
  let a0 = widen2(word_at(b));
  let a1 = widen2(word_at(b + 4u));
  let a2 = widen2(word_at(b + 8u));
  let a3 = widen2(word_at(b + 12u));
  return Unit8(vec4<f32>(a0, a1), vec4<f32>(a2, a3));
}
