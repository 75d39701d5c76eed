// attention_flash_dkdv: dK and dV of causal grouped-query attention, FlashAttention-2 style, for hardware GPUs
//
// For key j of KV head g, summed over the query heads h of g's group and the queries i ≥ j:
//   dV_j = Σ P_ij · dO_i,   dK_j = scale · Σ dS_ij · q_i,   dS_ij = P_ij (dP_ij − D_i),  dP_ij = dO_i·v_j.
// A workgroup owns OWN key rows of one (sequence, KV head), keeps their k and v in workgroup memory and, for
// each query head of the group, streams the queries from its first key on in tiles of TILE rows of q and dO
// (with their (lse, D)), each loaded from global memory once per OWN keys. Per tile: P and dS for the block
// into workgroup memory, then each key's LANES invocations add P·dO and dS·Q into the head-dimension chunks
// of dV and dK they own (registers). Three barriers per tile (four when SPLIT invocations share a score's dot
// products, shaders/lib/attention_flash.wgsl); every key row has one writer, no atomics.
//
// Layouts as attention_bwd_dkdv: Q, dO [B·S, H·HD]; K, V, dK, dV [B·S, KV·HD]; STATS [B, H, S] of vec2
// (lse, D); lengths [B]. Padding key rows get dK = dV = 0; padding query rows are never read.

// HD, Params, realign, in_head: shaders/lib/attention_common.wgsl; OWN, TILE, LANES, HD4, WG_SIZE, CHUNKS,
// MAX_CHUNKS: shaders/lib/attention_flash.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> dO: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> STATS: array<vec2<f32>>;
@group(0) @binding(5) var<storage, read> lengths: array<u32>;
@group(0) @binding(6) var<storage, read_write> dK: array<f32>;
@group(0) @binding(7) var<storage, read_write> dV: array<f32>;
@group(0) @binding(8) var<uniform> p: Params;

var<workgroup> k_tile: array<vec4<f32>, OWN * ROW4>;
var<workgroup> v_tile: array<vec4<f32>, OWN * ROW4>;
var<workgroup> q_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> do_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> tile_stats: array<vec2<f32>, TILE>;
var<workgroup> probs: array<f32, OWN * TILE>;
var<workgroup> ds: array<f32, OWN * TILE>;
var<workgroup> s_parts: array<f32, PARTS>; // partial k·q and v·dO when SPLIT > 1
var<workgroup> dp_parts: array<f32, PARTS>;

// ld, ld_q, ld_k, ld_v (chunk d of a head at element g of Q, K or V): shaders/lib/attention_flash.wgsl.

fn ld_do(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return dO[g / 4u]; }
  return ld(dO[g / 4u], dO[g / 4u + 1u], g, d);
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

// P and dS of `pair` (key j0 + pair / TILE, query i0 + pair % TILE) from s = k·q and dp = v·dO.
fn store_grads(pair: u32, s: f32, dp: f32, i0: u32, j0: u32, len: u32) {
  let key = pair / TILE;
  let t = pair % TILE;
  let st = tile_stats[t];
  let i = i0 + t;
  // Query i sees key j0 + key only from i ≥ j0 + key on; select, not multiply, as its exp may overflow.
  let prob = select(0.0, exp(s * p.scale - st.x), i >= j0 + key && i < len);
  probs[pair] = prob;
  ds[pair] = prob * (dp - st.y);
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let g = wid.y;
  let b = wid.z;
  let j0 = wid.x * OWN; // first key row of the block
  let len = min(lengths[b], p.S); // uniform: the loop bounds below are the same for the whole workgroup
  let r = lid / LANES;
  let lane = lid % LANES;
  let j = j0 + r;
  let kv_stride = p.KV * HD;
  let k_row = (b * p.S + j) * kv_stride + g * HD;
  if (j0 >= len) {
    if (j < p.S) {
      for (var c = lane; c < HD4; c += LANES) {
        store_dk(k_row + 4u * c, 4u * c, vec4<f32>(0.0));
        store_dv(k_row + 4u * c, 4u * c, vec4<f32>(0.0));
      }
    }
    return;
  }

  for (var e = lid; e < OWN * HD4; e += WG_SIZE) {
    let row = j0 + e / HD4;
    let d = 4u * (e % HD4);
    var kx = vec4<f32>(0.0);
    var vx = vec4<f32>(0.0);
    if (row < len) {
      let at = (b * p.S + row) * kv_stride + g * HD + d;
      kx = ld_k(at, d);
      vx = ld_v(at, d);
    }
    k_tile[padded(e)] = kx;
    v_tile[padded(e)] = vx;
  }
  let q_stride = p.H * HD;
  let group = p.H / p.KV;
  var dk: array<vec4<f32>, MAX_CHUNKS>;
  var dv: array<vec4<f32>, MAX_CHUNKS>;
  for (var h = g * group; h < (g + 1u) * group; h++) {
    let q_head = b * p.S * q_stride + h * HD; // position 0 of this sequence's query head h
    let stats_head = (b * p.H + h) * p.S;
    for (var i0 = j0; i0 < len; i0 += TILE) {
      for (var e = lid; e < TILE * HD4; e += WG_SIZE) {
        let i = i0 + e / HD4;
        let d = 4u * (e % HD4);
        var qx = vec4<f32>(0.0);
        var gx = vec4<f32>(0.0);
        if (i < len) {
          qx = ld_q(q_head + i * q_stride + d, d);
          gx = ld_do(q_head + i * q_stride + d, d);
        }
        q_tile[padded(e)] = qx;
        do_tile[padded(e)] = gx;
      }
      for (var e = lid; e < TILE; e += WG_SIZE) {
        tile_stats[e] = select(vec2<f32>(0.0), STATS[stats_head + i0 + e], i0 + e < len);
      }
      workgroupBarrier();
      for (var e = lid; e < OWN * TILE * SPLIT; e += WG_SIZE) {
        let pair = e / SPLIT;
        let ka = (pair / TILE) * ROW4;
        let qa = (pair % TILE) * ROW4;
        var s = 0.0;
        var dp = 0.0;
        for (var c = e % SPLIT; c < HD4; c += SPLIT) {
          s += dot(k_tile[ka + c], q_tile[qa + c]);
          dp += dot(v_tile[ka + c], do_tile[qa + c]);
        }
        if (SPLIT == 1u) {
          store_grads(pair, s, dp, i0, j0, len);
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
          store_grads(e, s, dp, i0, j0, len);
        }
      }
      workgroupBarrier();
      // Query-major, so each P and dS read from workgroup memory serves all the invocation's chunks.
      for (var t = 0u; t < TILE; t++) {
        let w = probs[r * TILE + t];
        let s = ds[r * TILE + t];
        for (var c = 0u; c < CHUNKS; c++) {
          let at = t * ROW4 + own_chunk(lane, c);
          dv[c] += w * do_tile[at];
          dk[c] += s * q_tile[at];
        }
      }
      workgroupBarrier(); // before the next tile overwrites q_tile, do_tile, probs and ds
    }
  }

  if (j >= p.S) { return; }
  let valid = j < len;
  let scale = select(0.0, p.scale, valid);
  let one = select(0.0, 1.0, valid);
  for (var c = 0u; c < CHUNKS; c++) {
    let chunk = lane + c * LANES;
    if (chunk < HD4) {
      store_dk(k_row + 4u * chunk, 4u * chunk, dk[c] * scale);
      store_dv(k_row + 4u * chunk, 4u * chunk, dv[c] * one);
    }
  }
}
