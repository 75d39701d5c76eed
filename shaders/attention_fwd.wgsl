// attention_fwd: causal grouped-query self-attention forward, flash-style, saving the row log-sum-exp
//
// One invocation owns two adjacent query rows (sequence b, query head h, positions 2t and 2t + 1): it
// streams the keys of their KV head four at a time, keeping per row a running max m, a running sum l and the
// unnormalised output (online softmax), so no S×S score matrix is ever stored. Four keys × two rows per step
// gives eight named scores in two vec4s, and each chunk of k and v loaded serves both rows: that register
// blocking halved the time on SwiftShader compared with one row per invocation. Invocations of a workgroup
// are consecutive positions of one head, so they stream the same keys (cache-friendly on CPU adapters,
// coalesced on GPUs). No shared memory and no barriers: SwiftShader pays dearly for both.
//
// Layouts (row-major, token-major): Q, O [B·S, H·HD]; K, V [B·S, KV·HD]; LSE [B, H, S]; lengths [B].
// Query head h reads KV head h / (H / KV). Rows at or beyond their sequence's length are padding: they
// get o = 0 and lse = 0, and their q, k, v are never read (so even NaN there cannot leak).

// HD, WG, ROWS, MAX_HD4, Params, realign and in_head: shaders/lib/attention_common.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> lengths: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

fn ld_q(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return Q[g / 4u]; }
  let x = realign(Q[g / 4u], Q[g / 4u + 1u], g % 4u);
  return select(vec4<f32>(0.0), x, in_head(d));
}

fn ld_k(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return K[g / 4u]; }
  let x = realign(K[g / 4u], K[g / 4u + 1u], g % 4u);
  return select(vec4<f32>(0.0), x, in_head(d));
}

fn ld_v(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return V[g / 4u]; }
  let x = realign(V[g / 4u], V[g / 4u + 1u], g % 4u);
  return select(vec4<f32>(0.0), x, in_head(d));
}

fn store_o(g: u32, d: u32, x: vec4<f32>) {
  O[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { O[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { O[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { O[g + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = gid.y;
  let b = gid.z;
  let ia = gid.x * ROWS;
  if (ia >= p.S) { return; }
  let len = min(lengths[b], p.S);
  let row_stride = p.H * HD;
  let lse_head = (b * p.H + h) * p.S;
  for (var i = ia; i < min(ia + ROWS, p.S); i++) {
    if (i >= len) {
      let base = (b * p.S + i) * row_stride + h * HD;
      for (var d = 0u; d < HD; d += 4u) { store_o(base + d, d, vec4<f32>(0.0)); }
      LSE[lse_head + i] = 0.0;
    }
  }
  if (ia >= len) { return; }
  // Row b is the next position, or a duplicate of row a (computed, never stored) at the sequence end.
  let has_b = ia + 1u < len;
  let ib = select(ia, ia + 1u, has_b);
  let qa = (b * p.S + ia) * row_stride + h * HD;
  let qb = (b * p.S + ib) * row_stride + h * HD;

  let kv_stride = p.KV * HD; // elements between consecutive positions of K and V
  let kv_head = b * p.S * kv_stride + (h / (p.H / p.KV)) * HD; // position 0 of this sequence's KV head
  var acc_a: array<vec4<f32>, MAX_HD4>;
  var acc_b: array<vec4<f32>, MAX_HD4>;
  // Finite start: the first block's correction exp(m − m_new) underflows to 0 without ever forming inf − inf.
  var m_a = -1.0e30;
  var m_b = -1.0e30;
  var l_a = 0.0;
  var l_b = 0.0;
  for (var j0 = 0u; j0 <= ib; j0 += 4u) {
    // Keys past ib are clamped to key ib: valid, finite data whose weight is then set to 0.
    let kb0 = kv_head + j0 * kv_stride;
    let kb1 = kv_head + min(j0 + 1u, ib) * kv_stride;
    let kb2 = kv_head + min(j0 + 2u, ib) * kv_stride;
    let kb3 = kv_head + min(j0 + 3u, ib) * kv_stride;
    var s_a = vec4<f32>(0.0);
    var s_b = vec4<f32>(0.0);
    for (var d = 0u; d < HD; d += 4u) {
      let k0 = ld_k(kb0 + d, d);
      let k1 = ld_k(kb1 + d, d);
      let k2 = ld_k(kb2 + d, d);
      let k3 = ld_k(kb3 + d, d);
      let q_a = ld_q(qa + d, d);
      let q_b = ld_q(qb + d, d);
      s_a += vec4<f32>(dot(q_a, k0), dot(q_a, k1), dot(q_a, k2), dot(q_a, k3));
      s_b += vec4<f32>(dot(q_b, k0), dot(q_b, k1), dot(q_b, k2), dot(q_b, k3));
    }
    s_a *= p.scale;
    s_b *= p.scale;
    let j = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
    let valid_a = j <= vec4<u32>(ia);
    let valid_b = j <= vec4<u32>(ib);
    // Key ia + 1 is not in row a's range, and a score far above the row's own would underflow all its
    // weights: masked out of row a's max. Row b's clamped duplicates are its own scores, harmless in a max.
    let masked_a = select(vec4<f32>(-1.0e30), s_a, valid_a);
    let mn_a = max(m_a, max(max(masked_a.x, masked_a.y), max(masked_a.z, masked_a.w)));
    let mn_b = max(m_b, max(max(s_b.x, s_b.y), max(s_b.z, s_b.w)));
    let corr_a = exp(m_a - mn_a);
    let corr_b = exp(m_b - mn_b);
    let w_a = select(vec4<f32>(0.0), exp(s_a - vec4<f32>(mn_a)), valid_a);
    let w_b = select(vec4<f32>(0.0), exp(s_b - vec4<f32>(mn_b)), valid_b);
    l_a = l_a * corr_a + (w_a.x + w_a.y + w_a.z + w_a.w);
    l_b = l_b * corr_b + (w_b.x + w_b.y + w_b.z + w_b.w);
    m_a = mn_a;
    m_b = mn_b;
    var c = 0u;
    for (var d = 0u; d < HD; d += 4u) {
      let v0 = ld_v(kb0 + d, d);
      let v1 = ld_v(kb1 + d, d);
      let v2 = ld_v(kb2 + d, d);
      let v3 = ld_v(kb3 + d, d);
      acc_a[c] = acc_a[c] * corr_a + w_a.x * v0 + w_a.y * v1 + w_a.z * v2 + w_a.w * v3;
      acc_b[c] = acc_b[c] * corr_b + w_b.x * v0 + w_b.y * v1 + w_b.z * v2 + w_b.w * v3;
      c++;
    }
  }

  // l ≥ 1: each row's largest weight is exp(0).
  let inv_a = 1.0 / l_a;
  let inv_b = 1.0 / l_b;
  var c = 0u;
  for (var d = 0u; d < HD; d += 4u) {
    store_o(qa + d, d, acc_a[c] * inv_a);
    if (has_b) { store_o(qb + d, d, acc_b[c] * inv_b); }
    c++;
  }
  LSE[lse_head + ia] = m_a + log(l_a);
  if (has_b) { LSE[lse_head + ib] = m_b + log(l_b); }
}
