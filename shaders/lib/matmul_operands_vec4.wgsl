// matmul_operands_vec4: A and B read as vec4 (matmul_regtile when every row and batch offset of both operands
// is a multiple of 4, so a run of 4 along the contiguous dimension is one aligned vec4 or wholly outside).

@group(0) @binding(0) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;

// A[i..i+3] (i % 4 == 0); `valid` > 0 means all four exist.
fn load4_a(i: u32, valid: u32) -> vec4<f32> {
  return A[i / 4u];
}

fn load4_b(i: u32, valid: u32) -> vec4<f32> {
  return B[i / 4u];
}
