// name: linear_q8_0: y = alpha·x·Wᵀ (+ y) with W frozen in GGML Q8_0, dequantized in registers as it loads
//
// x is T×K f32, W is N×K in Q8_0 (rows of K/32 blocks of 34 bytes: f16 scale d, 32 × int8 q; w = d·q),
// y is T×N. Register-blocked like matmul_blocked_vec4 (no workgroup memory: CPU adapters such as SwiftShader
// prefer it): each invocation computes 8 rows × 8 columns of y, stepping K four at a time; 8 rows share each
// decoded weight, which keeps the decoding a small part of the work.
// Weights are held in vec4 registers across 4+4 columns, so one u32 word per column (4 int8 along K)
// decodes with vector shifts straight into the transposed layout the fma chain wants: b_k = (w[o0][k], ...,
// w[o3][k]). Reading 1 word per 4 weights instead of 4 floats is what lets this keep up with f32 weights.
// Blocks are 34 bytes, so a block starts at byte 0 or 2 of a u32 word: each column carries its previous word
// and funnels two words together when its block is "odd" (the quants start mid-word).
// K % 32 == 0 (a Q8_0 Weight cannot be made otherwise). Any T and N: loads clamp to valid rows/columns,
// stores are guarded.

const TM: u32 = 8u;
const BLOCK_BYTES: u32 = 34u;

// ACCUMULATE, TN, WG_X, WG_Y, Params, W, OUT, p, gather and store_row: shaders/lib/linear_common.wgsl.
@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;

// f16 scale of each column's block: the low half of the first word, or the high half when the block is odd.
fn scales(first: vec4<u32>, odd: vec4<bool>) -> vec4<f32> {
  let h = select(first, first >> vec4<u32>(16u), odd);
  return vec4<f32>(unpack2x16float(h.x).x, unpack2x16float(h.y).x, unpack2x16float(h.z).x, unpack2x16float(h.w).x);
}

// Byte `shift/8` from the top of each column's word, sign-extended: int8 → f32, times the block scale.
fn byte_at(q: vec4<u32>, shift: u32, d: vec4<f32>) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(q << vec4<u32>(shift)) >> vec4<u32>(24u)) * d;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.T || col0 >= p.N) { return; }
  let lm = p.T - 1u;
  let ln = p.N - 1u;
  let K4 = p.K / 4u;
  let x0 = row0 * K4; let x1 = min(row0 + 1u, lm) * K4;
  let x2 = min(row0 + 2u, lm) * K4; let x3 = min(row0 + 3u, lm) * K4;
  let x4 = min(row0 + 4u, lm) * K4; let x5 = min(row0 + 5u, lm) * K4;
  let x6 = min(row0 + 6u, lm) * K4; let x7 = min(row0 + 7u, lm) * K4;
  // Byte offset of each column's row (columns past N re-read the last row; their results are never stored).
  let c = vec4<u32>(0u, 1u, 2u, 3u);
  let row_lo = min(vec4<u32>(col0) + c, vec4<u32>(ln)) * p.row_bytes;
  let row_hi = min(vec4<u32>(col0 + 4u) + c, vec4<u32>(ln)) * p.row_bytes;

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);

  let blocks = p.K / 32u;
  for (var blk = 0u; blk < blocks; blk++) {
    let start_lo = row_lo + vec4<u32>(blk * BLOCK_BYTES);
    let start_hi = row_hi + vec4<u32>(blk * BLOCK_BYTES);
    let idx_lo = start_lo >> vec4<u32>(2u);
    let idx_hi = start_hi >> vec4<u32>(2u);
    let odd_lo = (start_lo & vec4<u32>(2u)) != vec4<u32>(0u);
    let odd_hi = (start_hi & vec4<u32>(2u)) != vec4<u32>(0u);
    var prev_lo = gather(idx_lo);
    var prev_hi = gather(idx_hi);
    let d_lo = scales(prev_lo, odd_lo);
    let d_hi = scales(prev_hi, odd_hi);
    for (var j = 1u; j <= 8u; j++) {
      // Quants 4(j−1)..4(j−1)+3 of the block: bytes 2..5 of the window (even block) or the next word (odd).
      let next_lo = gather(idx_lo + vec4<u32>(j));
      let next_hi = gather(idx_hi + vec4<u32>(j));
      let q_lo = select((prev_lo >> vec4<u32>(16u)) | (next_lo << vec4<u32>(16u)), next_lo, odd_lo);
      let q_hi = select((prev_hi >> vec4<u32>(16u)) | (next_hi << vec4<u32>(16u)), next_hi, odd_hi);
      prev_lo = next_lo;
      prev_hi = next_hi;
      // b<i>l / b<i>h = W[o0..o3][k+i] / W[o4..o7][k+i]: byte i of each word (little-endian).
      let b0l = byte_at(q_lo, 24u, d_lo); let b0h = byte_at(q_hi, 24u, d_hi);
      let b1l = byte_at(q_lo, 16u, d_lo); let b1h = byte_at(q_hi, 16u, d_hi);
      let b2l = byte_at(q_lo, 8u, d_lo); let b2h = byte_at(q_hi, 8u, d_hi);
      let b3l = byte_at(q_lo, 0u, d_lo); let b3h = byte_at(q_hi, 0u, d_hi);
      let k4 = blk * 8u + j - 1u;
      let a0 = X[x0 + k4]; c00 = acc(c00, a0, b0l, b1l, b2l, b3l); c01 = acc(c01, a0, b0h, b1h, b2h, b3h);
      let a1 = X[x1 + k4]; c10 = acc(c10, a1, b0l, b1l, b2l, b3l); c11 = acc(c11, a1, b0h, b1h, b2h, b3h);
      let a2 = X[x2 + k4]; c20 = acc(c20, a2, b0l, b1l, b2l, b3l); c21 = acc(c21, a2, b0h, b1h, b2h, b3h);
      let a3 = X[x3 + k4]; c30 = acc(c30, a3, b0l, b1l, b2l, b3l); c31 = acc(c31, a3, b0h, b1h, b2h, b3h);
      let a4 = X[x4 + k4]; c40 = acc(c40, a4, b0l, b1l, b2l, b3l); c41 = acc(c41, a4, b0h, b1h, b2h, b3h);
      let a5 = X[x5 + k4]; c50 = acc(c50, a5, b0l, b1l, b2l, b3l); c51 = acc(c51, a5, b0h, b1h, b2h, b3h);
      let a6 = X[x6 + k4]; c60 = acc(c60, a6, b0l, b1l, b2l, b3l); c61 = acc(c61, a6, b0h, b1h, b2h, b3h);
      let a7 = X[x7 + k4]; c70 = acc(c70, a7, b0l, b1l, b2l, b3l); c71 = acc(c71, a7, b0h, b1h, b2h, b3h);
    }
  }

  store_row(row0, col0, p.N, c00, c01);
  store_row(row0 + 1u, col0, p.N, c10, c11);
  store_row(row0 + 2u, col0, p.N, c20, c21);
  store_row(row0 + 3u, col0, p.N, c30, c31);
  store_row(row0 + 4u, col0, p.N, c40, c41);
  store_row(row0 + 5u, col0, p.N, c50, c51);
  store_row(row0 + 6u, col0, p.N, c60, c61);
  store_row(row0 + 7u, col0, p.N, c70, c71);
}

// c + a·[b0; b1; b2; b3]: one row of x (4 k) times the 4×4 weight slice, summed in k order.
fn acc(c: vec4<f32>, a: vec4<f32>, b0: vec4<f32>, b1: vec4<f32>, b2: vec4<f32>, b3: vec4<f32>) -> vec4<f32> {
  return fma(vec4<f32>(a.w), b3, fma(vec4<f32>(a.z), b2, fma(vec4<f32>(a.y), b1, fma(vec4<f32>(a.x), b0, c))));
}
