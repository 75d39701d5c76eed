// attention_common: sizes, parameters and vec4 realignment shared by the attention kernels (appended to each)

override HD: u32; // head dimension, fixed per model: loops over it specialise at pipeline creation
const MAX_HD4: u32 = 64u; // private accumulator size in vec4s: head dimensions up to 256
const WG: u32 = 32u; // invocations per workgroup, each owning ROWS positions (query rows, or keys for dK/dV)
const ROWS: u32 = 2u;

struct Params {
  B: u32, S: u32, H: u32, KV: u32,
  scale: f32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// Inputs are bound as vec4 arrays: one 16-byte load instead of four robustness-checked scalar loads made
// these kernels 2.5× faster on SwiftShader. When HD is a multiple of 4 every head starts on a vec4 boundary;
// otherwise a chunk straddles two vec4s and is realigned (that branch folds away when HD % 4 == 0).
fn realign(a: vec4<f32>, b: vec4<f32>, r: u32) -> vec4<f32> {
  // Elements r..r+3 of the eight-element concatenation a ‖ b.
  let x1 = vec4<f32>(a.yzw, b.x);
  let x2 = vec4<f32>(a.zw, b.xy);
  let x3 = vec4<f32>(a.w, b.xyz);
  return select(select(select(a, x1, r == 1u), x2, r == 2u), x3, r == 3u);
}

// Components d..d+3 of a head that are inside it. When HD is not a multiple of 4 the last chunk would read
// the next head (or row, possibly padding holding anything): select, not multiply, so a NaN there vanishes.
fn in_head(d: u32) -> vec4<bool> {
  return vec4<u32>(d) + vec4<u32>(0u, 1u, 2u, 3u) < vec4<u32>(HD);
}
