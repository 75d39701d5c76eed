// name: linear_f16: y = alpha·x·Wᵀ (+ y) with W frozen in f16 or bf16 (BF16), widened to f32 in registers as it loads
//
// x is T×K f32, W is N×K IEEE half (row-major, two per u32 word), y is T×N. Register-blocked like
// matmul_blocked (no workgroup memory: CPU adapters such as SwiftShader prefer it): each invocation computes
// 8 rows × 8 columns of y, stepping K two at a time. Weights are held in vec4 registers across 4+4 columns, so
// one word per column (k, k+1) widens straight into the transposed layout the fma chain wants.
// Any T, N, K. When K is odd, every other row starts mid-word (ODD_K funnels two words together) and the last
// k is a single half word. Loads clamp to valid rows/columns, stores are guarded.

override ODD_K: bool = false;

const TM: u32 = 8u;

// ACCUMULATE, TN, WG_X, WG_Y, Params, W, OUT, p, gather and store_row: shaders/lib/linear_common.wgsl.
@group(0) @binding(0) var<storage, read> X: array<f32>;

// The two halves starting at half index h of each column (h odd only when ODD_K: then a funnel of two words).
fn pair(h: vec4<u32>) -> vec4<u32> {
  let w = gather(h >> vec4<u32>(1u));
  if (!ODD_K) { return w; }
  let last = vec4<u32>(arrayLength(&W) - 1u);
  let next = gather(min((h >> vec4<u32>(1u)) + vec4<u32>(1u), last));
  return select(w, (w >> vec4<u32>(16u)) | (next << vec4<u32>(16u)), (h & vec4<u32>(1u)) != vec4<u32>(0u));
}

// Widens the pairs of 4 columns: .lo = (w[o0][k], .., w[o3][k]), .hi = the same at k + 1.
struct Pair4 { lo: vec4<f32>, hi: vec4<f32> }
fn widen(w: vec4<u32>) -> Pair4 {
  let u0 = widen2(w.x); let u1 = widen2(w.y);
  let u2 = widen2(w.z); let u3 = widen2(w.w);
  return Pair4(vec4<f32>(u0.x, u1.x, u2.x, u3.x), vec4<f32>(u0.y, u1.y, u2.y, u3.y));
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.T || col0 >= p.N) { return; }
  let lm = p.T - 1u;
  let ln = p.N - 1u;
  let x0 = row0 * p.K; let x1 = min(row0 + 1u, lm) * p.K;
  let x2 = min(row0 + 2u, lm) * p.K; let x3 = min(row0 + 3u, lm) * p.K;
  let x4 = min(row0 + 4u, lm) * p.K; let x5 = min(row0 + 5u, lm) * p.K;
  let x6 = min(row0 + 6u, lm) * p.K; let x7 = min(row0 + 7u, lm) * p.K;
  // Half index of each column's row (columns past N re-read the last row; their results are never stored).
  let c = vec4<u32>(0u, 1u, 2u, 3u);
  let row_lo = min(vec4<u32>(col0) + c, vec4<u32>(ln)) * p.K;
  let row_hi = min(vec4<u32>(col0 + 4u) + c, vec4<u32>(ln)) * p.K;

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);
  var c40 = vec4<f32>(0.0); var c41 = vec4<f32>(0.0);
  var c50 = vec4<f32>(0.0); var c51 = vec4<f32>(0.0);
  var c60 = vec4<f32>(0.0); var c61 = vec4<f32>(0.0);
  var c70 = vec4<f32>(0.0); var c71 = vec4<f32>(0.0);

  let K2 = p.K / 2u;
  for (var kk = 0u; kk < K2; kk++) {
    let k = 2u * kk;
    let wl = widen(pair(row_lo + vec4<u32>(k)));
    let wh = widen(pair(row_hi + vec4<u32>(k)));
    let a0 = X[x0 + k]; let e0 = X[x0 + k + 1u]; c00 = acc2(c00, a0, e0, wl); c01 = acc2(c01, a0, e0, wh);
    let a1 = X[x1 + k]; let e1 = X[x1 + k + 1u]; c10 = acc2(c10, a1, e1, wl); c11 = acc2(c11, a1, e1, wh);
    let a2 = X[x2 + k]; let e2 = X[x2 + k + 1u]; c20 = acc2(c20, a2, e2, wl); c21 = acc2(c21, a2, e2, wh);
    let a3 = X[x3 + k]; let e3 = X[x3 + k + 1u]; c30 = acc2(c30, a3, e3, wl); c31 = acc2(c31, a3, e3, wh);
    let a4 = X[x4 + k]; let e4 = X[x4 + k + 1u]; c40 = acc2(c40, a4, e4, wl); c41 = acc2(c41, a4, e4, wh);
    let a5 = X[x5 + k]; let e5 = X[x5 + k + 1u]; c50 = acc2(c50, a5, e5, wl); c51 = acc2(c51, a5, e5, wh);
    let a6 = X[x6 + k]; let e6 = X[x6 + k + 1u]; c60 = acc2(c60, a6, e6, wl); c61 = acc2(c61, a6, e6, wh);
    let a7 = X[x7 + k]; let e7 = X[x7 + k + 1u]; c70 = acc2(c70, a7, e7, wl); c71 = acc2(c71, a7, e7, wh);
  }
  if (ODD_K) {
    // The last k: one half word per column, low or high half by the parity of its index.
    let k = p.K - 1u;
    let hl = row_lo + vec4<u32>(k);
    let hh = row_hi + vec4<u32>(k);
    let wl = widen(gather(hl >> vec4<u32>(1u)));
    let wh = widen(gather(hh >> vec4<u32>(1u)));
    let bl = select(wl.lo, wl.hi, (hl & vec4<u32>(1u)) != vec4<u32>(0u));
    let bh = select(wh.lo, wh.hi, (hh & vec4<u32>(1u)) != vec4<u32>(0u));
    let a0 = vec4<f32>(X[x0 + k]); c00 = fma(a0, bl, c00); c01 = fma(a0, bh, c01);
    let a1 = vec4<f32>(X[x1 + k]); c10 = fma(a1, bl, c10); c11 = fma(a1, bh, c11);
    let a2 = vec4<f32>(X[x2 + k]); c20 = fma(a2, bl, c20); c21 = fma(a2, bh, c21);
    let a3 = vec4<f32>(X[x3 + k]); c30 = fma(a3, bl, c30); c31 = fma(a3, bh, c31);
    let a4 = vec4<f32>(X[x4 + k]); c40 = fma(a4, bl, c40); c41 = fma(a4, bh, c41);
    let a5 = vec4<f32>(X[x5 + k]); c50 = fma(a5, bl, c50); c51 = fma(a5, bh, c51);
    let a6 = vec4<f32>(X[x6 + k]); c60 = fma(a6, bl, c60); c61 = fma(a6, bh, c61);
    let a7 = vec4<f32>(X[x7 + k]); c70 = fma(a7, bl, c70); c71 = fma(a7, bh, c71);
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

// c + x_k·w_k + x_{k+1}·w_{k+1} for 4 columns, in k order.
fn acc2(c: vec4<f32>, a0: f32, a1: f32, w: Pair4) -> vec4<f32> {
  return fma(vec4<f32>(a1), w.hi, fma(vec4<f32>(a0), w.lo, c));
}
