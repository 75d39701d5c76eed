// attention_flash_fwd: causal grouped-query attention forward, FlashAttention-2 style, for hardware GPUs
//
// A workgroup owns OWN consecutive query rows of one (sequence, head) and streams the keys of their KV head
// in tiles of TILE keys staged in workgroup memory, so every k and v element is read from global memory once
// per OWN query rows (the blocked kernel reads it once per 2). Per tile: the scores S = scale·Q·Kᵀ go to
// workgroup memory (one score per invocation at a time, or SPLIT invocations per score with big heads; q and
// k from workgroup memory); the row's LANES invocations take the new row max from S (online softmax),
// exponentiate their share of the row into P and accumulate P·V into the head-dimension chunks they own
// (CHUNKS vec4s in registers, not a whole row sized for hd 256). Each invocation keeps its own partial row
// sum l (same maxima, same rescales as its row's other invocations): the sums are added once, at the end.
// Tiles past the block's causal diagonal are never visited. Four barriers per tile: cheap on GPUs, dear on
// SwiftShader (a fiber switch per invocation), which keeps the blocked kernel there.
//
// Layouts as attention_fwd: Q, O [B·S, H·HD]; K, V [B·S, KV·HD]; LSE [B, H, S]; lengths [B]. Rows at or
// beyond their sequence's length get o = 0 and lse = 0; their q, k, v are never read (zeros are staged).

// HD, Params, realign, in_head: shaders/lib/attention_common.wgsl; OWN, TILE, LANES, HD4, WG_SIZE, CHUNKS,
// MAX_CHUNKS: shaders/lib/attention_flash.wgsl.

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> lengths: array<u32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
@group(0) @binding(5) var<storage, read_write> LSE: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> q_tile: array<vec4<f32>, OWN * ROW4>;
var<workgroup> k_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> v_tile: array<vec4<f32>, TILE * ROW4>;
var<workgroup> scores: array<f32, OWN * TILE * SPLIT>; // SPLIT partial dot products per score
var<workgroup> probs: array<f32, OWN * TILE>;
var<workgroup> row_sums: array<f32, WG_SIZE>;

// ld, ld_q, ld_k, ld_v (chunk d of a head at element g of Q, K or V): shaders/lib/attention_flash.wgsl.

fn store_o(g: u32, d: u32, x: vec4<f32>) {
  O[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { O[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { O[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { O[g + 3u] = x.w; }
}

// Score `pair` (owned row × key of the tile): its SPLIT partial dot products added in a fixed order, scaled.
fn score(pair: u32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < SPLIT; k++) { s += scores[pair * SPLIT + k]; }
  return s * p.scale;
}

@compute @workgroup_size(WG_SIZE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.y;
  let b = wid.z;
  let i0 = wid.x * OWN; // first query row of the block
  let len = min(lengths[b], p.S); // uniform: the loop bounds below are the same for the whole workgroup
  let r = lid / LANES; // this invocation's row in the block, and its share of that row
  let lane = lid % LANES;
  let i = i0 + r;
  let row_stride = p.H * HD;
  let q_row = (b * p.S + i) * row_stride + h * HD;
  let lse_at = (b * p.H + h) * p.S + i;
  if (i0 >= len) { // a block of padding rows only
    if (i < p.S) {
      for (var c = lane; c < HD4; c += LANES) { store_o(q_row + 4u * c, 4u * c, vec4<f32>(0.0)); }
      if (lane == 0u) { LSE[lse_at] = 0.0; }
    }
    return;
  }

  for (var e = lid; e < OWN * HD4; e += WG_SIZE) {
    let row = i0 + e / HD4;
    let d = 4u * (e % HD4);
    var x = vec4<f32>(0.0);
    if (row < len) { x = ld_q((b * p.S + row) * row_stride + h * HD + d, d); }
    q_tile[padded(e)] = x;
  }
  let kv_stride = p.KV * HD;
  let kv_head = b * p.S * kv_stride + (h / (p.H / p.KV)) * HD; // position 0 of this sequence's KV head
  var acc: array<vec4<f32>, MAX_CHUNKS>;
  // Finite start: the first tile's correction exp(m − m_new) underflows to 0 without ever forming inf − inf.
  var m = -1.0e30;
  var l = 0.0;
  let end = min(i0 + OWN, len); // keys 0..end−1 reach some row of the block
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
      for (var c = e % SPLIT; c < HD4; c += SPLIT) { s += dot(q_tile[qa + c], k_tile[ka + c]); }
      scores[e] = s;
    }
    workgroupBarrier();
    // Every invocation of the row computes the same max in the same order. Keys after the row (causal) or
    // past the sequence are out of it: select, not multiply, as their exp may overflow.
    var m_new = m;
    for (var t = 0u; t < TILE; t++) {
      let j = j0 + t;
      m_new = max(m_new, select(-1.0e30, score(r * TILE + t), j <= i && j < len));
    }
    let corr = exp(m - m_new);
    l *= corr;
    for (var t = lane; t < TILE; t += LANES) {
      let j = j0 + t;
      let w = select(0.0, exp(score(r * TILE + t) - m_new), j <= i && j < len);
      probs[r * TILE + t] = w;
      l += w;
    }
    m = m_new;
    workgroupBarrier();
    for (var c = 0u; c < CHUNKS; c++) { acc[c] *= corr; }
    // Key-major, so each probability read from workgroup memory serves all the invocation's chunks.
    for (var t = 0u; t < TILE; t++) {
      let w = probs[r * TILE + t];
      for (var c = 0u; c < CHUNKS; c++) { acc[c] += w * v_tile[t * ROW4 + own_chunk(lane, c)]; }
    }
    workgroupBarrier(); // before the next tile overwrites k_tile, v_tile and scores
  }

  row_sums[lid] = l;
  workgroupBarrier();
  var total = 0.0;
  for (var t = 0u; t < LANES; t++) { total += row_sums[r * LANES + t]; }
  if (i >= p.S) { return; }
  // total ≥ 1 on a valid row: its largest weight is exp(0).
  let valid = i < len;
  let inv = select(0.0, 1.0 / total, valid);
  for (var c = 0u; c < CHUNKS; c++) {
    let chunk = lane + c * LANES;
    if (chunk < HD4) { store_o(q_row + 4u * chunk, 4u * chunk, acc[c] * inv); }
  }
  if (lane == 0u) { LSE[lse_at] = select(0.0, m + log(total), valid); }
}
