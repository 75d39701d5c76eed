// embedding: out[t, c] = table[ids[t], c], decoding the table from its stored type (f32, f16, bf16, Q8_0, Q4_0)
//
// The table is a Weight: raw GGML bytes read as u32 words. Each decode is exact in f32 (an f16 value, or
// f16 d × a small integer: ≤ 11 + 8 significant bits), so the output equals the dequantized table bit for
// bit. f16 is decoded from its bits rather than with unpack2x16float, which may flush subnormals.
// Ids ≥ vocab give a row of zeros: nothing outside the table is read, and the bad row is easy to spot.
// One invocation per 4 consecutive outputs of a row over a flat grid (grid1d); any dim (f32/f16 rows
// need not be word-aligned, the last group of a row may be short). Four per invocation rather than one
// roughly halves the time on SwiftShader, where per-invocation overhead dominates a gather.

override TYPE: u32 = 0u; // 0 f32, 1 f16, 2 q8_0, 3 q4_0, 4 bf16

const WG: u32 = 64u;
const Q8_0_BLOCK_BYTES: u32 = 34u; // f16 d, 32 × int8
const Q4_0_BLOCK_BYTES: u32 = 18u; // f16 d, 16 bytes: value j in the low nibble of byte j, j+16 in the high

struct Params {
  T: u32,
  dim: u32,
  vocab: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> table: array<u32>;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn f16_value(h: u32) -> f32 {
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 0u) { return select(1.0, -1.0, (h & 0x8000u) != 0u) * ldexp(f32(m), -24); } // ±0 and subnormals
  let exp = select(e + 112u, 0xffu, e == 31u); // rebias 15 → 127; Inf/NaN stay Inf/NaN
  return bitcast<f32>(((h & 0x8000u) << 16u) | (exp << 23u) | (m << 13u));
}

fn byte_at(o: u32) -> u32 {
  return (table[o >> 2u] >> (8u * (o & 3u))) & 0xffu;
}

// Block offsets are even (34 and 18 are), so a block's f16 d never straddles two words.
fn half_at(o: u32) -> u32 {
  return (table[o >> 2u] >> (8u * (o & 2u))) & 0xffffu;
}

fn value(e: u32) -> f32 {
  switch TYPE {
    case 0u: { return bitcast<f32>(table[e]); }
    case 1u: { return f16_value(half_at(2u * e)); }
    case 4u: { return bitcast<f32>(half_at(2u * e) << 16u); } // bfloat16: the f32's high half
    case 2u: {
      let o = (e / 32u) * Q8_0_BLOCK_BYTES;
      let q = bitcast<i32>(byte_at(o + 2u + e % 32u) << 24u) >> 24u; // sign-extend the int8
      return f16_value(half_at(o)) * f32(q);
    }
    default: {
      let o = (e / 32u) * Q4_0_BLOCK_BYTES;
      let j = e % 32u;
      let q = (byte_at(o + 2u + j % 16u) >> (4u * (j / 16u))) & 0xfu;
      return f16_value(half_at(o)) * f32(i32(q) - 8);
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  let per_row = (p.dim + 3u) / 4u;
  if (i >= p.T * per_row) { return; }
  let t = i / per_row;
  let c = 4u * (i % per_row);
  let n = min(4u, p.dim - c);
  let id = ids[t];
  let o = t * p.dim + c;
  for (var k = 0u; k < n; k++) {
    if (id >= p.vocab) { out[o + k] = 0.0; } else { out[o + k] = value(id * p.dim + c + k); }
  }
}
