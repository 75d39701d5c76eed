// attention_bwd_dkdv: dK and dV of causal grouped-query attention; each key row has exactly one writer
//
// For key j of KV head g in sequence b, summed over the query heads h of g's group and the queries i ≥ j:
//   dV_j = Σ P_ij · dO_i,   dK_j = scale · Σ dS_ij · q_i,   dS_ij = P_ij (dP_ij − D_i),  dP_ij = dO_i·v_j,
// with P_ij = exp(scale·q_i·k_j − lse_i) recomputed. Owning the key row (rather than scattering from query
// rows) is what avoids float atomics. An invocation owns two adjacent keys and takes queries four at a time
// (eight named scores in vec4s; each chunk of q and dO loaded serves both keys, the register blocking of the
// forward); invocations of a workgroup are consecutive keys of one KV head, so they stream the same queries.
// No shared memory, no barriers.
//
// Layouts: Q, dO [B·S, H·HD]; K, V, dK, dV [B·S, KV·HD]; STATS [B, H, S] of vec2 (lse, D); lengths [B].
// Padding key rows get dK = dV = 0; padding query rows are never read.

// HD, WG, ROWS, MAX_HD4, Params, realign and in_head: shaders/lib/attention_common.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> STATS: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> lengths: array<u32>;
@group(0) @binding(6) var<storage, read_write> dK: array<f32>;
@group(0) @binding(7) var<storage, read_write> dV: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

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

fn store_dk(g: u32, d: u32, x: vec4<f32>) {
  dK[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { dK[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { dK[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { dK[g + 3u] = x.w; }
}

fn store_dv(g: u32, d: u32, x: vec4<f32>) {
  dV[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { dV[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { dV[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { dV[g + 3u] = x.w; }
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let g = gid.y;
  let b = gid.z;
  let ja = gid.x * ROWS;
  if (ja >= p.S) { return; }
  let len = min(lengths[b], p.S);
  let kv_stride = p.KV * HD;
  for (var j = ja; j < min(ja + ROWS, p.S); j++) {
    if (j >= len) {
      let base = (b * p.S + j) * kv_stride + g * HD;
      for (var d = 0u; d < HD; d += 4u) {
        store_dk(base + d, d, vec4<f32>(0.0));
        store_dv(base + d, d, vec4<f32>(0.0));
      }
    }
  }
  if (ja >= len) { return; }
  // Key b is the next position, or a duplicate of key a (computed, never stored) at the sequence end.
  let has_b = ja + 1u < len;
  let jb = select(ja, ja + 1u, has_b);
  let ka = (b * p.S + ja) * kv_stride + g * HD;
  let kb = (b * p.S + jb) * kv_stride + g * HD;

  let q_stride = p.H * HD; // elements between consecutive positions of Q and dO
  let group = p.H / p.KV;
  let last = len - 1u;
  var dk_a: array<vec4<f32>, MAX_HD4>;
  var dk_b: array<vec4<f32>, MAX_HD4>;
  var dv_a: array<vec4<f32>, MAX_HD4>;
  var dv_b: array<vec4<f32>, MAX_HD4>;
  for (var h = g * group; h < (g + 1u) * group; h++) {
    let q_head = b * p.S * q_stride + h * HD; // position 0 of this sequence's query head h
    let stats_head = (b * p.H + h) * p.S;
    for (var i0 = ja; i0 < len; i0 += 4u) {
      // Queries past the sequence end are clamped to its last query (valid data) and weighted 0 below.
      let i1 = min(i0 + 1u, last);
      let i2 = min(i0 + 2u, last);
      let i3 = min(i0 + 3u, last);
      let qb0 = q_head + i0 * q_stride;
      let qb1 = q_head + i1 * q_stride;
      let qb2 = q_head + i2 * q_stride;
      let qb3 = q_head + i3 * q_stride;
      var s_a = vec4<f32>(0.0);
      var s_b = vec4<f32>(0.0);
      var dp_a = vec4<f32>(0.0);
      var dp_b = vec4<f32>(0.0);
      for (var d = 0u; d < HD; d += 4u) {
        let q0 = ld_q(qb0 + d, d);
        let q1 = ld_q(qb1 + d, d);
        let q2 = ld_q(qb2 + d, d);
        let q3 = ld_q(qb3 + d, d);
        let g0 = ld_do(qb0 + d, d);
        let g1 = ld_do(qb1 + d, d);
        let g2 = ld_do(qb2 + d, d);
        let g3 = ld_do(qb3 + d, d);
        let k_a = ld_k(ka + d, d);
        let k_b = ld_k(kb + d, d);
        let v_a = ld_v(ka + d, d);
        let v_b = ld_v(kb + d, d);
        s_a += vec4<f32>(dot(k_a, q0), dot(k_a, q1), dot(k_a, q2), dot(k_a, q3));
        s_b += vec4<f32>(dot(k_b, q0), dot(k_b, q1), dot(k_b, q2), dot(k_b, q3));
        dp_a += vec4<f32>(dot(v_a, g0), dot(v_a, g1), dot(v_a, g2), dot(v_a, g3));
        dp_b += vec4<f32>(dot(v_b, g0), dot(v_b, g1), dot(v_b, g2), dot(v_b, g3));
      }
      let st0 = STATS[stats_head + i0];
      let st1 = STATS[stats_head + i1];
      let st2 = STATS[stats_head + i2];
      let st3 = STATS[stats_head + i3];
      let lse = vec4<f32>(st0.x, st1.x, st2.x, st3.x);
      let D = vec4<f32>(st0.y, st1.y, st2.y, st3.y);
      let i = vec4<u32>(i0) + vec4<u32>(0u, 1u, 2u, 3u);
      let in_seq = i <= vec4<u32>(last);
      // Query ja precedes key jb: select, not multiply, as its exp may overflow.
      let prob_a = select(vec4<f32>(0.0), exp(s_a * p.scale - lse), in_seq);
      let prob_b = select(vec4<f32>(0.0), exp(s_b * p.scale - lse), in_seq & (i >= vec4<u32>(jb)));
      let ds_a = prob_a * (dp_a - D);
      let ds_b = prob_b * (dp_b - D);
      var c = 0u;
      for (var d = 0u; d < HD; d += 4u) {
        let q0 = ld_q(qb0 + d, d);
        let q1 = ld_q(qb1 + d, d);
        let q2 = ld_q(qb2 + d, d);
        let q3 = ld_q(qb3 + d, d);
        let g0 = ld_do(qb0 + d, d);
        let g1 = ld_do(qb1 + d, d);
        let g2 = ld_do(qb2 + d, d);
        let g3 = ld_do(qb3 + d, d);
        dv_a[c] += prob_a.x * g0 + prob_a.y * g1 + prob_a.z * g2 + prob_a.w * g3;
        dv_b[c] += prob_b.x * g0 + prob_b.y * g1 + prob_b.z * g2 + prob_b.w * g3;
        dk_a[c] += ds_a.x * q0 + ds_a.y * q1 + ds_a.z * q2 + ds_a.w * q3;
        dk_b[c] += ds_b.x * q0 + ds_b.y * q1 + ds_b.z * q2 + ds_b.w * q3;
        c++;
      }
    }
  }

  var c = 0u;
  for (var d = 0u; d < HD; d += 4u) {
    store_dk(ka + d, d, dk_a[c] * p.scale);
    store_dv(ka + d, d, dv_a[c]);
    if (has_b) {
      store_dk(kb + d, d, dk_b[c] * p.scale);
      store_dv(kb + d, d, dv_b[c]);
    }
    c++;
  }
}
