// attention_flash_dq: dQ of causal grouped-query attention, FlashAttention-2 style, for hardware GPUs
//
// dQ_i = scale · Σ_{j ≤ i} dS_ij · k_j with dS_ij = P_ij (dP_ij − D_i), P_ij = exp(scale·q_i·k_j − lse_i)
// recomputed from the saved log-sum-exp and dP_ij = dO_i·v_j. A workgroup owns OWN query rows of one
// (sequence, head), keeps their q and dO in workgroup memory and streams the keys in tiles of TILE rows of k
// and v (each loaded from global memory once per OWN query rows). Per tile: dS for the block into workgroup
// memory (one entry per invocation at a time, or SPLIT invocations per entry with big heads), then each
// row's LANES invocations add dS·K into the head-dimension chunks they own (registers). Tiles past the
// causal diagonal are skipped. Three barriers per tile (four when SPLIT > 1); every dQ row has one writer,
// no atomics.
//
// Layouts as attention_bwd_dq: Q, dO, dQ [B·S, H·HD]; K, V [B·S, KV·HD]; STATS [B, H, S] of vec2 (lse, D)
// from attention_bwd_stats; lengths [B]. Padding rows get dQ = 0 and their inputs are never read.

// HD, Params, realign, in_head: shaders/lib/attention_common.wgsl; OWN, TILE, LANES, HD4, WG_SIZE, CHUNKS,
// MAX_CHUNKS: shaders/lib/attention_flash.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> STATS: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> lengths: array<u32>;
@group(0) @binding(6) var<storage, read_write> dQ: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

var<workgroup> q_tile: array<vec4<f32>, OWN * ROW4>;
var<workgroup> do_tile: array<vec4<f32>, OWN * ROW4>;
var<workgroup> k_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> v_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> row_stats: array<vec2<f32>, OWN>;
var<workgroup> ds: array<f32, OWN * TILE>;
var<workgroup> s_parts: array<f32, PARTS>; // partial q·k and dO·v when SPLIT > 1
var<workgroup> dp_parts: array<f32, PARTS>;

// ld, ld_q, ld_k, ld_v (chunk d of a head at element g of Q, K or V): shaders/lib/attention_flash.wgsl.

fn ld_do(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return dO[g / 4u]; }
  return ld(dO[g / 4u], dO[g / 4u + 1u], g, d);
}

fn store_dq(g: u32, d: u32, x: vec4<f32>) {
  dQ[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { dQ[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { dQ[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { dQ[g + 3u] = x.w; }
}

// dS of `pair` (query row i0 + pair / TILE, key j0 + pair % TILE) from s = q·k and dp = dO·v.
fn grad_score(pair: u32, s: f32, dp: f32, i0: u32, j0: u32, len: u32) -> f32 {
  let row = pair / TILE;
  let j = j0 + pair % TILE;
  let st = row_stats[row];
  // select, not multiply: a masked-out key's exp may overflow.
  let prob = select(0.0, exp(s * p.scale - st.x), j <= i0 + row && j < len);
  return prob * (dp - st.y);
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let i0 = wid.x * OWN;
  let len = min(lengths[b], p.S); // uniform: the loop bounds below are the same for the whole workgroup
  let r = lid / LANES;
  let lane = lid % LANES;
  let i = i0 + r;
  let row_stride = p.H * HD;
  let q_row = (b * p.S + i) * row_stride + h * HD;
  if (i0 >= len) {
    if (i < p.S) { for (var c = lane; c < HD4; c += LANES) { store_dq(q_row + 4u * c, 4u * c, vec4<f32>(0.0)); } }
    return;
  }

  for (var e = lid; e < OWN * HD4; e += WG_SIZE) {
    let row = i0 + e / HD4;
    let d = 4u * (e % HD4);
    var qx = vec4<f32>(0.0);
    var gx = vec4<f32>(0.0);
    if (row < len) {
      let g = (b * p.S + row) * row_stride + h * HD + d;
      qx = ld_q(g, d);
      gx = ld_do(g, d);
    }
    q_tile[padded(e)] = qx;
    do_tile[padded(e)] = gx;
  }
  for (var e = lid; e < OWN; e += WG_SIZE) {
    row_stats[e] = select(vec2<f32>(0.0), STATS[(b * p.H + h) * p.S + i0 + e], i0 + e < len);
  }
  let kv_stride = p.KV * HD;
  let kv_head = b * p.S * kv_stride + (h / (p.H / p.KV)) * HD;
  var acc: array<vec4<f32>, MAX_CHUNKS>;
  let end = min(i0 + OWN, len);
  for (var j0 = 0u; j0 < end; j0 += TILE) {
    for (var e = lid; e < TILE * HD4; e += WG_SIZE) {
      let j = j0 + e / HD4;
      let d = 4u * (e % HD4);
      var kx = vec4<f32>(0.0);
      var vx = vec4<f32>(0.0);
      if (j < len) {
        let g = kv_head + j * kv_stride + d;
        kx = ld_k(g, d);
        vx = ld_v(g, d);
      }
      k_tile[padded(e)] = kx;
      v_tile[padded(e)] = vx;
    }
    workgroupBarrier();
    for (var e = lid; e < OWN * TILE * SPLIT; e += WG_SIZE) {
      let pair = e / SPLIT;
      let qa = (pair / TILE) * ROW4;
      let ka = (pair % TILE) * ROW4;
      var s = 0.0;
      var dp = 0.0;
      for (var c = e % SPLIT; c < HD4; c += SPLIT) {
        s += dot(q_tile[qa + c], k_tile[ka + c]);
        dp += dot(do_tile[qa + c], v_tile[ka + c]);
      }
      if (SPLIT == 1u) {
        ds[pair] = grad_score(pair, s, dp, i0, j0, len);
      } else {
        s_parts[e] = s;
        dp_parts[e] = dp;
      }
    }
    if (SPLIT > 1u) { // an override: the branch is uniform, and folds away
      workgroupBarrier();
      for (var e = lid; e < OWN * TILE; e += WG_SIZE) {
        var s = 0.0;
        var dp = 0.0;
        for (var k = 0u; k < SPLIT; k++) {
          s += s_parts[e * SPLIT + k];
          dp += dp_parts[e * SPLIT + k];
        }
        ds[e] = grad_score(e, s, dp, i0, j0, len);
      }
    }
    workgroupBarrier();
    // Key-major, so each dS read from workgroup memory serves all the invocation's chunks.
    for (var t = 0u; t < TILE; t++) {
      let w = ds[r * TILE + t];
      for (var c = 0u; c < CHUNKS; c++) { acc[c] += w * k_tile[t * ROW4 + own_chunk(lane, c)]; }
    }
    workgroupBarrier(); // before the next tile overwrites k_tile, v_tile and ds
  }

  if (i >= p.S) { return; }
  let scale = select(0.0, p.scale, i < len);
  for (var c = 0u; c < CHUNKS; c++) {
    let chunk = lane + c * LANES;
    if (chunk < HD4) { store_dq(q_row + 4u * chunk, 4u * chunk, acc[c] * scale); }
  }
}
