// matmul_operands_f32: A and B read as scalars (matmul_regtile for any layout): the first `valid` of A[i..i+3],
// zeros after, so a run may end inside a row.

@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<f32>;

fn load4_a(i: u32, valid: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (valid >= 4u) { return vec4<f32>(A[i], A[i + 1u], A[i + 2u], A[i + 3u]); }
  for (var c = 0u; c < valid; c++) { v[c] = A[i + c]; }
  return v;
}

fn load4_b(i: u32, valid: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (valid >= 4u) { return vec4<f32>(B[i], B[i + 1u], B[i + 2u], B[i + 3u]); }
  for (var c = 0u; c < valid; c++) { v[c] = B[i + c]; }
  return v;
}
