// linear_common: parameters, weight/output bindings and the guarded store shared by the linear kernels
// (appended to each). Binding 0, the f32 input (x or dy), is declared by each kernel with the element type
// it reads best (f32 or vec4).
// The store is also the epilogue that adds an adapter's low-rank product (LOW_RANK, src/ops/linear.ts
// LowRank): OUT[t, c] gets lr_scale·Σ_j H[t, j]·L[g·lr_group_stride + c·lr_col_stride + j·lr_k_stride], g the
// row group of t — LoRA's s·h·Bᵀ in the forward, dh·A in the input gradient — so the adapter's last product
// costs no dispatch of its own. r (≤ 64 here) terms per output against K for the base product.

override ACCUMULATE: bool = false; // OUT += alpha·product (the model sums paths into one activation)
override LOW_RANK: bool = false; // OUT also gets lr_scale·H·Lᵀ (bindings 4 and 5)
// GATED_OUT = silu(GATE) ⊙ OUT as OUT is stored: the up projection computes SwiGLU's h in the same kernel
// (silu_times: shaders/lib/swiglu_common.wgsl, appended by src/ops/linear.ts).
override GATED: bool = false;
// The 16-bit weights are bfloat16 (the f16 kernels read both: only the widening differs). BF16 is kept at 16 bits
// rather than widened to f32 on load: half the memory, exact (a bfloat16 is an f32 with 16 low zero bits).
override BF16: bool = false;

const TN: u32 = 8u; // output columns per invocation
const WG_X: u32 = 8u; // invocations along the output columns
const WG_Y: u32 = 8u; // invocations along tokens

// T tokens; W is N×K (rows × columns) in GGML layout, each row `row_bytes` long.
struct Params {
  T: u32, N: u32, K: u32, alpha: f32,
  row_bytes: u32, lr_rank: u32, lr_group_rows: u32, lr_group_stride: u32,
  lr_col_stride: u32, lr_k_stride: u32, lr_scale: f32, _pad0: u32,
}

@group(0) @binding(1) var<storage, read> W: array<u32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
@group(0) @binding(4) var<storage, read> LR_H: array<f32>;
@group(0) @binding(5) var<storage, read> LR_L: array<f32>;
@group(0) @binding(6) var<storage, read> GATE: array<f32>;
@group(0) @binding(7) var<storage, read_write> GATED_OUT: array<f32>;

// The words at four byte-offset-derived indices: one per output column of a 4-wide group.
fn gather(i: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(W[i.x], W[i.y], W[i.z], W[i.w]);
}

// Σ_j H[t, j]·L[…, col, j]: the low-rank product at (t, col), summed in j order.
fn low_rank(t: u32, col: u32) -> f32 {
  let l0 = (t / p.lr_group_rows) * p.lr_group_stride + col * p.lr_col_stride;
  let h0 = t * p.lr_rank;
  var s = 0.0;
  for (var j = 0u; j < p.lr_rank; j++) {
    s = fma(LR_H[h0 + j], LR_L[l0 + j * p.lr_k_stride], s);
  }
  return s;
}

// Row t, columns c..c+7 of OUT (width columns wide): alpha·(lo ‖ hi) (+ the low-rank product), stored or
// added, inside the bounds (and SwiGLU's h of the stored value).
fn store_row(t: u32, c: u32, width: u32, lo: vec4<f32>, hi: vec4<f32>) {
  store4(t, c, width, lo);
  store4(t, c + 4u, width, hi);
}

// Row t, columns c..c+3 of OUT: store_row's epilogue for one vec4 (linear_tiled stores two halves apart).
fn store4(t: u32, c: u32, width: u32, v: vec4<f32>) {
  if (t >= p.T) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (c + j < width) {
      let e = t * width + c + j;
      var r = p.alpha * v[j];
      if (LOW_RANK) { r = fma(p.lr_scale, low_rank(t, c + j), r); }
      if (ACCUMULATE) { r += OUT[e]; }
      OUT[e] = r;
      if (GATED) { GATED_OUT[e] = silu_times(GATE[e], r); }
    }
  }
}

// The 4 bytes from byte `a` of W (a even): one word, or two funnelled when `a` starts mid-word. Quantized
// blocks are 34 or 18 bytes, so their fields start at byte 0 or 2 of a word.
fn word_at(a: u32) -> u32 {
  let i = a >> 2u;
  if ((a & 2u) == 0u) { return W[i]; }
  // The next word is clamped: a row's last weights may end on the buffer's last half word.
  return (W[i] >> 16u) | (W[min(i + 1u, arrayLength(&W) - 1u)] << 16u);
}

// The two 16-bit weights of a word (element 0 in the low half), widened: IEEE half, or bfloat16 under BF16.
fn widen2(w: u32) -> vec2<f32> {
  if (BF16) { return vec2<f32>(bitcast<f32>(w << 16u), bitcast<f32>(w & 0xffff0000u)); }
  return unpack2x16float(w);
}

// The 16-bit weight at byte `a` (a even), widened (BF16-aware; quantized blocks' scales use half_at).
fn weight16_at(a: u32) -> f32 {
  return widen2(W[a >> 2u] >> ((a & 2u) * 8u)).x;
}

// The f16 at byte `a` (a even), widened.
fn half_at(a: u32) -> f32 {
  return unpack2x16float(W[a >> 2u] >> ((a & 2u) * 8u)).x;
}
