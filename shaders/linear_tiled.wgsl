// name: linear_tiled: y = alpha·x·Wᵀ (forward) or dx = alpha·dy·W (DX), W frozen in f16 / Q8_0 / Q4_0, decoded
// once per workgroup tile into workgroup memory
//
// The GPU variant of the linear kernels. The blocked kernels decode every weight in registers for 8 or 16
// tokens, so W is fetched and decoded T/8 or T/16 times from memory; here an 8×8 workgroup computes a
// 64-token × 64-column tile of the output, each invocation 8×8 outputs, and per step of BR = 16 along the
// reduction (K forward, N for dx) it decodes the 64×16 slice of W into workgroup memory once (each decoded
// weight then serves 64 tokens) and stages the 64×16 slice of the input (x or dy; each value then serves 64
// outputs). The inner loop is matmul_regtile's: per reduction step 2 vec4 of input and 2 vec4 of weights
// from workgroup memory for 64 FMAs, columns split in two vec4 halves 32 apart and rows padded by one vec4,
// so no bank conflicts. The next slice is fetched and decoded into registers while the current one is
// multiplied. 8.7 KB of workgroup memory, 64 invocations, 64 accumulators + 32 staged values per invocation.
// The decoding is the weight type's `decode4` (W[n, k..k+3] in f32: shaders/lib/decode_{f16,q8_0,q4_0}.wgsl,
// appended by src/ops/linear.ts), the same for both directions: the forward stores its 4 k transposed (the
// reduction runs along k), dx stores them as they are (its output columns are W's k).
// The store is linear_common's (`store4`: alpha, ACCUMULATE, the LOW_RANK adapter product, GATED SwiGLU).
// Any T and output width; f16 any K, quantized K % 32 == 0. Out-of-range values stage as zero.

override DX: bool = false; // dx = dy·W instead of y = x·Wᵀ

const BR: u32 = 16u; // reduction step
const ROW: u32 = 17u; // a staged reduction row: 16 vec4 (64 tokens or columns) + one of padding

// ACCUMULATE, LOW_RANK, GATED, WG_X (= WG_Y = 8), Params, W, OUT, p, store4: shaders/lib/linear_common.wgsl.
@group(0) @binding(0) var<storage, read> IN: array<f32>;

var<workgroup> Is: array<vec4<f32>, BR * ROW>; // Is[r·ROW + t/4][t%4] = IN[tile_t + t, r0 + r]
var<workgroup> Ws: array<vec4<f32>, BR * ROW>; // Ws[r·ROW + c/4][c%4] = the weight at (reduction r0 + r, column c)

// IN[t, r..r+3] (IN is T rows of `len`), zeros outside.
fn load_in(t: u32, r: u32, len: u32) -> vec4<f32> {
  var v = vec4<f32>(0.0);
  if (t >= p.T || r >= len) { return v; }
  let i = t * len + r;
  if (r + 4u <= len) { return vec4<f32>(IN[i], IN[i + 1u], IN[i + 2u], IN[i + 3u]); }
  for (var c = 0u; c < len - r; c++) { v[c] = IN[i + c]; }
  return v;
}

// The e-th vec4 of the weight slice at (reduction r0, columns c0): W[n, k..k+3] with (n, k) from (r, c) by
// direction. Forward: columns are W's rows n, the reduction its k; dx: the reduction is n, columns are k.
fn load_w(e: u32, r0: u32, c0: u32) -> vec4<f32> {
  var n = c0 + e / 4u; var k = r0 + (e % 4u) * 4u;
  if (DX) { n = r0 + e / 16u; k = c0 + (e % 16u) * 4u; }
  if (n >= p.N || k >= p.K) { return vec4<f32>(0.0); }
  return decode4(n, k);
}

fn stash(e: u32, vi: vec4<f32>, vw: vec4<f32>) {
  // The input slice is always staged transposed: e = 4·t + r/4.
  let ii = ((e % 4u) * 4u) * ROW + (e / 4u) / 4u;
  let ic = (e / 4u) % 4u;
  Is[ii][ic] = vi.x; Is[ii + ROW][ic] = vi.y; Is[ii + 2u * ROW][ic] = vi.z; Is[ii + 3u * ROW][ic] = vi.w;
  if (DX) {
    Ws[(e / 16u) * ROW + e % 16u] = vw;
  } else {
    let wi = ((e % 4u) * 4u) * ROW + (e / 4u) / 4u;
    let wc = (e / 4u) % 4u;
    Ws[wi][wc] = vw.x; Ws[wi + ROW][wc] = vw.y; Ws[wi + 2u * ROW][wc] = vw.z; Ws[wi + 3u * ROW][wc] = vw.w;
  }
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
  let tile_t = wg.y * 64u;
  let tile_c = wg.x * 64u;
  let len = select(p.K, p.N, DX); // the reduction (and the input rows') length
  let width = select(p.N, p.K, DX); // output columns

  var pi: array<vec4<f32>, 4>;
  var pw: array<vec4<f32>, 4>;
  var acc: array<vec4<f32>, 16>; // acc[2i + h]: row i (0..3: 4·ly + i, 4..7: 32 + 4·ly + i−4), column half h
  // Step s stages slice s−1 (fetched during step s−1), fetches slice s, then multiplies slice s−1.
  let slices = (len + BR - 1u) / BR;
  for (var s = 0u; s <= slices; s++) {
    if (s > 0u) {
      for (var l = 0u; l < 4u; l++) { stash(li + 64u * l, pi[l], pw[l]); }
      workgroupBarrier();
    }
    if (s < slices) {
      for (var l = 0u; l < 4u; l++) {
        let e = li + 64u * l;
        pi[l] = load_in(tile_t + e / 4u, s * BR + (e % 4u) * 4u, len);
        pw[l] = load_w(e, s * BR, tile_c);
      }
    }
    if (s > 0u) {
      for (var r = 0u; r < BR; r++) {
        let a0 = Is[r * ROW + lid.y]; let a1 = Is[r * ROW + 8u + lid.y];
        let b0 = Ws[r * ROW + lid.x]; let b1 = Ws[r * ROW + 8u + lid.x];
        acc[0] = fma(vec4<f32>(a0.x), b0, acc[0]); acc[1] = fma(vec4<f32>(a0.x), b1, acc[1]);
        acc[2] = fma(vec4<f32>(a0.y), b0, acc[2]); acc[3] = fma(vec4<f32>(a0.y), b1, acc[3]);
        acc[4] = fma(vec4<f32>(a0.z), b0, acc[4]); acc[5] = fma(vec4<f32>(a0.z), b1, acc[5]);
        acc[6] = fma(vec4<f32>(a0.w), b0, acc[6]); acc[7] = fma(vec4<f32>(a0.w), b1, acc[7]);
        acc[8] = fma(vec4<f32>(a1.x), b0, acc[8]); acc[9] = fma(vec4<f32>(a1.x), b1, acc[9]);
        acc[10] = fma(vec4<f32>(a1.y), b0, acc[10]); acc[11] = fma(vec4<f32>(a1.y), b1, acc[11]);
        acc[12] = fma(vec4<f32>(a1.z), b0, acc[12]); acc[13] = fma(vec4<f32>(a1.z), b1, acc[13]);
        acc[14] = fma(vec4<f32>(a1.w), b0, acc[14]); acc[15] = fma(vec4<f32>(a1.w), b1, acc[15]);
      }
      workgroupBarrier(); // everyone is done reading the slice before the next is staged
    }
  }

  for (var i = 0u; i < 8u; i++) {
    let t = tile_t + select(4u * lid.y + i, 28u + 4u * lid.y + i, i >= 4u);
    store4(t, tile_c + 4u * lid.x, width, acc[2u * i]);
    store4(t, tile_c + 32u + 4u * lid.x, width, acc[2u * i + 1u]);
  }
}
