// rope: rotary position embedding in place on q [T, q_heads·head_dim] and k [T, k_heads·head_dim] in one
// dispatch; INVERSE rotates by −θ (backward)
//
// One invocation per rotated pair (token, head, frequency j), the token's q heads then its k heads, so each
// reads its two values and writes them back: in place with no hazards. The angle is pos·freq_j with freq_j = inv_freq[j] / factor[j]; inv_freq
// comes from a host-computed f32 table (θ^(−2j/d) rounded once, more exact than pow/exp2 in the shader),
// so the angle carries ~3 roundings (≈ 3·2⁻²⁴·|angle|). sin and cos are our own: WGSL bounds the builtins'
// absolute error only by 2⁻¹¹ on [−π, π] (SwiftShader really is off by ~2⁻¹²), which would dominate at the
// short positions training uses. So the angle is reduced by π/2 with a three-part Cody–Waite constant and
// the quadrant picks among Cephes' single-precision polynomials on [−π/4, π/4] (a few ULP).
// Pairings: HF "rotate half" pairs (j, j + d/2); llama.cpp GGUF / llama2.c pair (2j, 2j + 1).

override ADJACENT: bool = false;
override INVERSE: bool = false;
override HAS_FACTORS: bool = false; // Llama-3 rope_freqs: frequency j is divided by factor[j]

const WG: u32 = 64u;
const TWO_OVER_PI: f32 = 0.636619772;
// π/2 = HALF_PI_HI + HALF_PI_MID + HALF_PI_LO (to 1e-15): HI has 8 significant bits and MID 12, so k·HI
// and k·MID are exact for k < 2^12 (angles up to ~6400 rad; beyond, their rounding stays far below the
// angle's own) and a − k·HI is exact (Sterbenz).
const HALF_PI_HI: f32 = 1.5703125;
const HALF_PI_MID: f32 = 0.00048375129699707031;
const HALF_PI_LO: f32 = 7.54979013e-8;

struct Params { T: u32, q_heads: u32, k_heads: u32, head_dim: u32 }

@group(0) @binding(0) var<storage, read_write> q: array<f32>;
@group(0) @binding(1) var<storage, read_write> k: array<f32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(4) var<storage, read> factors: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

/** (sin a, cos a) for an angle a ≥ 0, to a few ULP of the f32 angle. */
fn sin_cos(a: f32) -> vec2<f32> {
  let k = round(a * TWO_OVER_PI);
  let r = ((a - k * HALF_PI_HI) - k * HALF_PI_MID) - k * HALF_PI_LO; // |r| ≤ π/4
  let z = r * r;
  let s = fma(fma(fma(-1.9515295891e-4, z, 8.3321608736e-3), z, -1.6666654611e-1), z * r, r);
  let c = fma(fma(fma(2.443315711809948e-5, z, -1.388731625493765e-3), z, 4.166664568298827e-2), z * z,
    fma(-0.5, z, 1.0));
  // Quadrant q: sin(r + q·π/2) cycles s, c, −s, −c and cos cycles c, −s, −c, s.
  switch (i32(k) & 3) {
    case 0: { return vec2<f32>(s, c); }
    case 1: { return vec2<f32>(c, -s); }
    case 2: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}

/** The indices of pair j of the head starting at `base`. */
fn pair(base: u32, j: u32) -> vec2<u32> {
  if (ADJACENT) { return vec2<u32>(base + 2u * j, base + 2u * j + 1u); }
  return vec2<u32>(base + j, base + j + p.head_dim / 2u);
}

/** (x0, x1) rotated by the angle of sine s and cosine c. */
fn rotated(x: vec2<f32>, s: f32, c: f32) -> vec2<f32> {
  return vec2<f32>(x.x * c - x.y * s, x.y * c + x.x * s);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let half = p.head_dim / 2u;
  let heads = p.q_heads + p.k_heads;
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i >= p.T * heads * half) { return; }
  let j = i % half;
  let row_head = i / half; // t·heads + h: a token's q heads, then its k heads
  let t = row_head / heads;
  let h = row_head % heads;

  var freq = inv_freq[j];
  if (HAS_FACTORS) { freq = freq / factors[j]; }
  let sc = sin_cos(f32(pos[t]) * freq);
  let s = select(sc.x, -sc.x, INVERSE);

  if (h < p.q_heads) {
    let ix = pair((t * p.q_heads + h) * p.head_dim, j);
    let r = rotated(vec2<f32>(q[ix.x], q[ix.y]), s, sc.y);
    q[ix.x] = r.x;
    q[ix.y] = r.y;
  } else {
    let ix = pair((t * p.k_heads + h - p.q_heads) * p.head_dim, j);
    let r = rotated(vec2<f32>(k[ix.x], k[ix.y]), s, sc.y);
    k[ix.x] = r.x;
    k[ix.y] = r.y;
  }
}
