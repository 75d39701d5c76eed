// quantize: f32 matrix → GGML Q8_0 / Q4_0 blocks, byte-exact with ggml's quantize_row_q8_0_ref / q4_0_ref
//
// Byte-exactness needs C's float semantics, which WGSL does not promise, so each step is pinned down:
// - WGSL f32 division is only accurate to 2.5 ULP: amax/127 and 1/d are done by integer long division of
//   the mantissas with round-to-nearest-even (div_rn); Q4_0's max/-8 is an exact multiply by -0.125.
// - C's roundf rounds halves away from zero, WGSL's round() to even: Q8_0 rounds with trunc + fix-up.
// - pack2x16float's rounding is unspecified: the f16 scale is built from the f32 bits (f16_bits).
// - Drivers may contract x*id + c into one fma (one rounding where C does two): every product passes
//   through an xor with a uniform zero (opaque) that no compiler can see through.
// × and + on f32 are correctly rounded in WGSL, so everything else matches C operation for operation.
// Inputs must be finite; blocks whose largest magnitude is below 2^-119 (where d would be an f32
// subnormal, which GPUs flush) are out of scope.
//
// Blocks run through the flat row-major matrix (cols % 32 == 0). Each invocation encodes two consecutive
// blocks, 68 (Q8_0) or 36 (Q4_0) bytes = 17 or 9 whole u32 words, so no two invocations write one word;
// the last invocation of an odd block count writes the final word's zero padding too.

const WG: u32 = 64u;

struct Params {
  blocks: u32,
  opaque_zero: u32, // always 0; unknown to the compiler
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
@group(0) @binding(2) var<uniform> p: Params;

fn opaque(v: vec4<f32>) -> vec4<f32> {
  return bitcast<vec4<f32>>(bitcast<vec4<u32>>(v) ^ vec4<u32>(p.opaque_zero));
}

// a / b correctly rounded (to nearest, ties to even) for positive normal finite a, b. Mantissas are
// divided bit by bit in u32; the remainder decides the rounding. Subnormal quotients flush to 0.
fn div_rn(a: f32, b: f32) -> f32 {
  let ab = bitcast<u32>(a);
  let bb = bitcast<u32>(b);
  let mb = (bb & 0x7fffffu) | 0x800000u;
  var r = (ab & 0x7fffffu) | 0x800000u;
  var e = i32((ab >> 23u) & 0xffu) - i32((bb >> 23u) & 0xffu) + 127;
  if (r < mb) { r = r << 1u; e = e - 1; } // now mb ≤ r < 2·mb: the quotient lies in [1, 2)
  var q = 0u;
  for (var i = 0u; i < 24u; i++) {
    q = q << 1u;
    if (r >= mb) { r = r - mb; q = q | 1u; }
    r = r << 1u;
  }
  // r is twice the remainder: above mb means more than half an ULP left over, equal means a tie.
  if (r > mb || (r == mb && (q & 1u) == 1u)) { q = q + 1u; }
  if (q == 0x1000000u) { q = 0x800000u; e = e + 1; }
  if (e <= 0) { return 0.0; }
  return bitcast<f32>((u32(e) << 23u) | (q & 0x7fffffu));
}

// f32 → IEEE half bits, round to nearest even, with subnormals and overflow to infinity (GGML's
// FP32_TO_FP16 on hardware with F16C, and src/reference/f16.ts).
fn f16_bits(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu) - 112; // rebias 127 → 15
  var mant = b & 0x7fffffu;
  if (e >= 31) { return sign | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sign; }
    mant = mant | 0x800000u;
    let shift = u32(14 - e);
    let half = 1u << (shift - 1u);
    let rest = mant & ((1u << shift) - 1u);
    var m = mant >> shift;
    if (rest > half || (rest == half && (m & 1u) == 1u)) { m = m + 1u; } // may carry into the exponent: fine
    return sign | m;
  }
  let rest = mant & 0x1fffu;
  var h = (u32(e) << 10u) | (mant >> 13u);
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) { h = h + 1u; } // a carry rounds up to Inf
  return sign | h;
}

// C's roundf (halves away from zero): trunc, then step away from zero when the dropped part is ≥ 0.5.
fn roundf(v: vec4<f32>) -> vec4<f32> {
  let t = trunc(v);
  return select(t, t + sign(v), abs(v - t) >= vec4<f32>(0.5));
}

fn bytes4(q: vec4<i32>) -> u32 {
  let b = vec4<u32>(q) & vec4<u32>(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// --- Q8_0: f16 d = amax/127, then 32 × int8 roundf(x·(1/d)) ---

struct ScaleQ8 { d_bits: u32, id: f32 }

fn scale_q8_0(xb: u32) -> ScaleQ8 {
  var amax = 0.0;
  for (var j = 0u; j < 8u; j++) {
    let a = abs(x[xb + j]);
    amax = max(max(max(amax, a.x), max(a.y, a.z)), a.w);
  }
  if (amax == 0.0) { return ScaleQ8(0u, 0.0); }
  let d = div_rn(amax, 127.0);
  var id = 0.0;
  if (d != 0.0) { id = div_rn(1.0, d); }
  return ScaleQ8(f16_bits(d), id);
}

fn quants_q8_0(v: vec4<f32>, id: f32) -> u32 {
  return bytes4(vec4<i32>(roundf(opaque(v * id))));
}

@compute @workgroup_size(WG)
fn quantize_q8_0(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pair = flat_index(gid, nwg);
  let b0 = 2u * pair;
  if (b0 >= p.blocks) { return; }
  let w0 = 17u * pair;
  let xa = 8u * b0; // vec4 index of the block's first values
  // Block A starts at byte 0 of word w0: its d fills the low half, so its quants are shifted by 2 bytes;
  // `carry` holds the 2 bytes that spill into the next word.
  let sa = scale_q8_0(xa);
  var carry = sa.d_bits;
  for (var j = 0u; j < 8u; j++) {
    let q = quants_q8_0(x[xa + j], sa.id);
    out[w0 + j] = carry | (q << 16u);
    carry = q >> 16u;
  }
  if (b0 + 1u >= p.blocks) { out[w0 + 8u] = carry; return; }
  // Block B starts at byte 34: its d fills the high half of word 8, its quants are word-aligned.
  let xb = xa + 8u;
  let sb = scale_q8_0(xb);
  out[w0 + 8u] = carry | (sb.d_bits << 16u);
  for (var j = 0u; j < 8u; j++) {
    out[w0 + 9u + j] = quants_q8_0(x[xb + j], sb.id);
  }
}

// --- Q4_0: d = max/-8 (max = the signed value of largest magnitude, first on ties), then
//     nibbles min(15, trunc(x·(1/d) + 8.5)); byte j holds value j (low) and value j+16 (high) ---

struct ScaleQ4 { d_bits: u32, id: f32 }

fn pick_max(best: vec2<f32>, v: f32) -> vec2<f32> {
  // best = (amax, max); strict < keeps the first of equal magnitudes, as ggml does.
  return select(best, vec2<f32>(abs(v), v), best.x < abs(v));
}

fn scale_q4_0(xb: u32) -> ScaleQ4 {
  var best = vec2<f32>(0.0);
  for (var j = 0u; j < 8u; j++) {
    let v = x[xb + j];
    best = pick_max(pick_max(pick_max(pick_max(best, v.x), v.y), v.z), v.w);
  }
  // All zeros: ggml stores d = 0/-8 = -0 (0x8000) and id = 0, so every nibble is trunc(8.5) = 8.
  if (best.y == 0.0) { return ScaleQ4(0x8000u, 0.0); }
  let d = best.y * -0.125; // exact: dividing by a power of two
  return ScaleQ4(f16_bits(d), sign(d) * div_rn(1.0, abs(d)));
}

fn nibbles_q4_0(v: vec4<f32>, id: f32) -> vec4<u32> {
  return vec4<u32>(min(vec4<i32>(opaque(v * id) + vec4<f32>(8.5)), vec4<i32>(15)));
}

// Bytes 4j..4j+3 of a block's nibble array: values 4j.. in the low nibbles, 16+4j.. in the high ones.
fn nibble_word(xb: u32, j: u32, id: f32) -> u32 {
  let n = nibbles_q4_0(x[xb + j], id) | (nibbles_q4_0(x[xb + 4u + j], id) << vec4<u32>(4u));
  return n.x | (n.y << 8u) | (n.z << 16u) | (n.w << 24u);
}

@compute @workgroup_size(WG)
fn quantize_q4_0(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let pair = flat_index(gid, nwg);
  let b0 = 2u * pair;
  if (b0 >= p.blocks) { return; }
  let w0 = 9u * pair;
  let xa = 8u * b0;
  // Same word layout as Q8_0: block A's 16 nibble bytes are shifted by its 2-byte d, block B (byte 18)
  // puts its d in the high half of word 4 and its nibbles in words 5..8.
  let sa = scale_q4_0(xa);
  var carry = sa.d_bits;
  for (var j = 0u; j < 4u; j++) {
    let q = nibble_word(xa, j, sa.id);
    out[w0 + j] = carry | (q << 16u);
    carry = q >> 16u;
  }
  if (b0 + 1u >= p.blocks) { out[w0 + 4u] = carry; return; }
  let xb = xa + 8u;
  let sb = scale_q4_0(xb);
  out[w0 + 4u] = carry | (sb.d_bits << 16u);
  for (var j = 0u; j < 4u; j++) {
    out[w0 + 5u + j] = nibble_word(xb, j, sb.id);
  }
}
