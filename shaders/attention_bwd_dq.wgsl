// attention_bwd_dq: dQ of causal grouped-query attention; each dQ row has exactly one writer
//
// For query row (b, h, i): dQ_i = scale · Σ_{j ≤ i} dS_ij · k_j with dS_ij = P_ij (dP_ij − D_i),
// P_ij = exp(scale·q_i·k_j − lse_i) recomputed from the saved log-sum-exp (no S×S matrix is kept) and
// dP_ij = dO_i·v_j. As in the forward, an invocation owns two adjacent rows and takes keys four at a time
// (eight named scores in vec4s; each chunk of k and v loaded serves both rows), and invocations of a
// workgroup are consecutive positions of one head; no shared memory, no barriers, no atomics.
//
// Layouts: Q, dO, dQ [B·S, H·HD]; K, V [B·S, KV·HD]; STATS [B, H, S] of vec2 (lse, D) from
// attention_bwd_stats; lengths [B]. Padding rows get dQ = 0 and their inputs are never read.

// HD, WG, ROWS, MAX_HD4, Params, realign and in_head: shaders/lib/attention_common.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> STATS: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> lengths: array<u32>;
@group(0) @binding(6) var<storage, read_write> dQ: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

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

fn ld_do(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return dO[g / 4u]; }
  let x = realign(dO[g / 4u], dO[g / 4u + 1u], g % 4u);
  return select(vec4<f32>(0.0), x, in_head(d));
}

fn store_dq(g: u32, d: u32, x: vec4<f32>) {
  dQ[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { dQ[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { dQ[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { dQ[g + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let h = gid.y;
  let b = gid.z;
  let ia = gid.x * ROWS;
  if (ia >= p.S) { return; }
  let len = min(lengths[b], p.S);
  let row_stride = p.H * HD;
  for (var i = ia; i < min(ia + ROWS, p.S); i++) {
    if (i >= len) {
      let base = (b * p.S + i) * row_stride + h * HD;
      for (var d = 0u; d < HD; d += 4u) { store_dq(base + d, d, vec4<f32>(0.0)); }
    }
  }
  if (ia >= len) { return; }
  // Row b is the next position, or a duplicate of row a (computed, never stored) at the sequence end.
  let has_b = ia + 1u < len;
  let ib = select(ia, ia + 1u, has_b);
  let qa = (b * p.S + ia) * row_stride + h * HD;
  let qb = (b * p.S + ib) * row_stride + h * HD;
  let stats_a = STATS[(b * p.H + h) * p.S + ia];
  let stats_b = STATS[(b * p.H + h) * p.S + ib];

  let kv_stride = p.KV * HD;
  let kv_head = b * p.S * kv_stride + (h / (p.H / p.KV)) * HD;
  var acc_a: array<vec4<f32>, MAX_HD4>;
  var acc_b: array<vec4<f32>, MAX_HD4>;
  for (var j0 = 0u; j0 <= ib; j0 += 4u) {
    // Keys past ib are clamped to key ib (finite, valid data) and weighted 0 below.
    let kb0 = kv_head + j0 * kv_stride;
    let kb1 = kv_head + min(j0 + 1u, ib) * kv_stride;
    let kb2 = kv_head + min(j0 + 2u, ib) * kv_stride;
    let kb3 = kv_head + min(j0 + 3u, ib) * kv_stride;
    var s_a = vec4<f32>(0.0);
    var s_b = vec4<f32>(0.0);
    var dp_a = vec4<f32>(0.0);
    var dp_b = vec4<f32>(0.0);
    for (var d = 0u; d < HD; d += 4u) {
      let k0 = ld_k(kb0 + d, d);
      let k1 = ld_k(kb1 + d, d);
      let k2 = ld_k(kb2 + d, d);
      let k3 = ld_k(kb3 + d, d);
      let v0 = ld_v(kb0 + d, d);
      let v1 = ld_v(kb1 + d, d);
      let v2 = ld_v(kb2 + d, d);
      let v3 = ld_v(kb3 + d, d);
      let q_a = ld_q(qa + d, d);
      let q_b = ld_q(qb + d, d);
      let g_a = ld_do(qa + d, d);
      let g_b = ld_do(qb + d, d);
      s_a += vec4<f32>(dot(q_a, k0), dot(q_a, k1), dot(q_a, k2), dot(q_a, k3));
      s_b += vec4<f32>(dot(q_b, k0), dot(q_b, k1), dot(q_b, k2), dot(q_b, k3));
      dp_a += vec4<f32>(dot(g_a, v0), dot(g_a, v1), dot(g_a, v2), dot(g_a, v3));
      dp_b += vec4<f32>(dot(g_b, v0), dot(g_b, v1), dot(g_b, v2), dot(g_b, v3));
    }
    let j = vec4<u32>(j0) + vec4<u32>(0u, 1u, 2u, 3u);
    // select, not multiply: the masked-out key ia + 1 may overflow exp for row a.
    let prob_a = select(vec4<f32>(0.0), exp(s_a * p.scale - vec4<f32>(stats_a.x)), j <= vec4<u32>(ia));
    let prob_b = select(vec4<f32>(0.0), exp(s_b * p.scale - vec4<f32>(stats_b.x)), j <= vec4<u32>(ib));
    let ds_a = prob_a * (dp_a - vec4<f32>(stats_a.y));
    let ds_b = prob_b * (dp_b - vec4<f32>(stats_b.y));
    var c = 0u;
    for (var d = 0u; d < HD; d += 4u) {
      let k0 = ld_k(kb0 + d, d);
      let k1 = ld_k(kb1 + d, d);
      let k2 = ld_k(kb2 + d, d);
      let k3 = ld_k(kb3 + d, d);
      acc_a[c] += ds_a.x * k0 + ds_a.y * k1 + ds_a.z * k2 + ds_a.w * k3;
      acc_b[c] += ds_b.x * k0 + ds_b.y * k1 + ds_b.z * k2 + ds_b.w * k3;
      c++;
    }
  }

  var c = 0u;
  for (var d = 0u; d < HD; d += 4u) {
    store_dq(qa + d, d, acc_a[c] * p.scale);
    if (has_b) { store_dq(qb + d, d, acc_b[c] * p.scale); }
    c++;
  }
}
