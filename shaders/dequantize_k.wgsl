// dequantize_k: GGML Q4_K / Q6_K super-blocks (256 values each) → f32, bit-identical with ggml's
// dequantize_row_q4_K / dequantize_row_q6_K (src/reference/quantK.ts).
//
// Why bit-identical is possible: every product is exact in f32. The f16 d has 11 significant bits;
// Q4_K multiplies it by a 6-bit scale and a 4-bit quant (≤ 21 bits), Q6_K by an int8 scale (≤ 7 bits,
// or 128) and a 6-bit quant (|q| ≤ 32, ≤ 5 bits), ≤ 23 bits. So ggml's order of operations, and any fma a
// driver contracts, give the same value; Q4_K's final d1·q − m1 is the single rounding on both sides.
// f16 is decoded from its bits, not with unpack2x16float, which may flush subnormal scales.
//
// One invocation writes 32 consecutive outputs: a Q4_K sub-block (one scale/min pair) or, in Q6_K, one
// of the four 32-value runs of a 128-value half (two scales). Q4_K blocks (144 bytes) are word-aligned;
// Q6_K blocks (210 bytes) are not, so their 4-byte reads are assembled from two words when they straddle.

const WG: u32 = 64u;
const Q4K_WORDS: u32 = 36u;  // 144 bytes: d, dmin (f16), 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
const Q6K_BYTES: u32 = 210u; // ql[128] low nibbles, qh[64] high 2-bit pairs, scales[16] int8, f16 d

struct Params {
  groups: u32, // number of 32-value output runs: n / 32
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<u32>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

fn f16_value(h: u32) -> f32 {
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return select(1.0, -1.0, (h & 0x8000u) != 0u) * ldexp(f32(m), -24); } // ±0 and subnormals
  let exp = select(e + 112u, 0xffu, e == 31u); // rebias 15 → 127; Inf/NaN stay Inf/NaN
  return bitcast<f32>(((h & 0x8000u) << 16u) | (exp << 23u) | (m << 13u));
}

fn byte_of(word: u32, k: u32) -> u32 {
  return (word >> (8u * (k & 3u))) & 0xffu;
}

// The 4 bytes starting at byte offset `o` (any alignment), little-endian.
fn u32_at(o: u32) -> u32 {
  let w = src[o >> 2u];
  let sh = 8u * (o & 3u);
  if (sh == 0u) { return w; }
  return (w >> sh) | (src[(o >> 2u) + 1u] << (32u - sh));
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// Byte k of the 12 packed scale bytes (bytes 4..15 of the block).
fn q4k_scale_byte(wb: u32, k: u32) -> u32 {
  return byte_of(src[wb + 1u + k / 4u], k);
}

@compute @workgroup_size(WG)
fn dequantize_q4_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = flat_index(gid, nwg);
  if (g >= p.groups) { return; }
  let j = g % 8u; // sub-block: scale/min pair j, nibbles of byte run j/2 (low nibbles when j is even)
  let wb = (g / 8u) * Q4K_WORDS;
  let dm = src[wb];
  let d = f16_value(dm & 0xffffu);
  let dmin = f16_value(dm >> 16u);
  // get_scale_min_k4: j < 4 reads 6-bit fields directly; j ≥ 4 joins a nibble with two spare top bits.
  var sc: u32;
  var mn: u32;
  if (j < 4u) {
    sc = q4k_scale_byte(wb, j) & 63u;
    mn = q4k_scale_byte(wb, j + 4u) & 63u;
  } else {
    sc = (q4k_scale_byte(wb, j + 4u) & 0xfu) | ((q4k_scale_byte(wb, j - 4u) >> 6u) << 4u);
    mn = (q4k_scale_byte(wb, j + 4u) >> 4u) | ((q4k_scale_byte(wb, j) >> 6u) << 4u);
  }
  let d1 = d * f32(sc);
  let m1 = dmin * f32(mn);
  let shift = vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * (j & 1u));
  let qw = wb + 4u + 8u * (j / 2u); // first word of the 32 nibble bytes
  let o = g * 8u;
  for (var i = 0u; i < 8u; i++) {
    let q = vec4<f32>((vec4<u32>(src[qw + i]) >> shift) & vec4<u32>(0xfu));
    dst[o + i] = vec4<f32>(d1) * q - vec4<f32>(m1);
  }
}

@compute @workgroup_size(WG)
fn dequantize_q6_k(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let g = flat_index(gid, nwg);
  if (g >= p.groups) { return; }
  let r = g % 8u;
  let h = r / 4u; // 128-value half of the block
  let k = r % 4u; // run within the half: outputs 128h + 32k + l, l = 0..31
  let b = (g / 8u) * Q6K_BYTES;
  let dw = b + 208u; // even, so the f16 lies inside one word
  let d = f16_value((src[dw >> 2u] >> (8u * (dw & 3u))) & 0xffffu);
  // Scales 8h + 2k + (l / 16): two adjacent int8 at an even offset, inside one word.
  let so = b + 192u + 8u * h + 2u * k;
  let s2 = (src[so >> 2u] >> (8u * (so & 3u))) & 0xffffu;
  let sc0 = f32(bitcast<i32>(s2 << 24u) >> 24u); // sign-extend
  let sc1 = f32(bitcast<i32>(s2 << 16u) >> 24u);
  let ql = b + 64u * h + 32u * (k & 1u); // low nibbles (high nibbles for k ≥ 2)
  let qh = b + 128u + 32u * h;           // 2-bit pairs at bit 2k
  let lsh = vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(4u * (k / 2u));
  let hsh = vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(2u * k);
  let o = g * 8u;
  for (var i = 0u; i < 8u; i++) {
    let lo = (vec4<u32>(u32_at(ql + 4u * i)) >> lsh) & vec4<u32>(0xfu);
    let hi = (vec4<u32>(u32_at(qh + 4u * i)) >> hsh) & vec4<u32>(3u);
    let q = vec4<f32>(vec4<i32>(lo | (hi << vec4<u32>(4u))) - vec4<i32>(32));
    let ds = d * select(sc0, sc1, i >= 4u); // l = 4i..4i+3 uses scale l / 16
    dst[o + i] = vec4<f32>(ds) * q;
  }
}
