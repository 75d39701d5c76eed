// swiglu_common: SwiGLU's forward value, shared by swiglu_forward and the linear kernels' epilogue (the up
// projection writes h = silu(g) ⊙ u as it stores u), so both compute h bit for bit alike.
// σ(g) = 1/(1 + exp(−g)) saturates cleanly: exp overflows to +inf for g ≪ 0 and 1/inf = 0, no NaN.

fn silu_times(g: f32, u: f32) -> f32 {
  return g / (1.0 + exp(-g)) * u;
}
