// attention_decode: n new queries, each at its own (sequence, position), against a KV cache, causal, grouped-query
//
// Generation adds one token at a time: its query must see every cached key 0..pos but no S×S work is
// needed, and the keys live in a preallocated cache rather than in a tensor of the sequence's own length, so
// attention_fwd's layout does not fit. The cache may hold several sequences (batched decoding at evaluation):
// each query reads `place` = (first cache row of its sequence, its position) and sees that sequence's rows
// start … start + pos. One invocation owns one (query row, head): it streams the keys of its KV head with an
// online softmax (running max m, sum l, unnormalised output), exactly as attention_fwd does per row. Prefill
// (many queries of one sequence), speculative verification (many of several) and single-token decode share
// this one code path. Cache rows past a query's position are never read: they may hold stale keys of a
// longer earlier sequence or of a rejected draft.
//
// Layouts (row-major): Q, O [n, H·HD]; K, V caches [rows, KV·HD]; place [n, 2] u32. Query head h reads KV
// head h / (H / KV). For a single query only H invocations run: fine on CPU adapters and for short contexts;
// attention_decode_split (flash-decoding: keys split over workgroups and lanes) is the GPU variant.

// HD, MAX_HD4, WG, realign and in_head: shaders/lib/attention_common.wgsl.

struct DecodeParams {
  n: u32, H: u32, KV: u32, scale: f32,
}

@group(0) @binding(0) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
@group(0) @binding(4) var<storage, read> place: array<u32>;
@group(0) @binding(5) var<uniform> p: DecodeParams;

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
  let i = gid.x;
  let h = gid.y;
  if (i >= p.n) { return; }
  let qa = i * p.H * HD + h * HD;
  let kv_stride = p.KV * HD;
  let kv_head = (h / (p.H / p.KV)) * HD;
  var acc: array<vec4<f32>, MAX_HD4>;
  // Finite start: the first key's correction exp(m − s) underflows to 0 without ever forming inf − inf.
  var m = -1.0e30;
  var l = 0.0;
  let start = place[2u * i];
  let pos = place[2u * i + 1u];
  for (var j = 0u; j <= pos; j++) {
    let kb = kv_head + (start + j) * kv_stride;
    var s = 0.0;
    for (var d = 0u; d < HD; d += 4u) { s += dot(ld_q(qa + d, d), ld_k(kb + d, d)); }
    s *= p.scale;
    let mn = max(m, s);
    let corr = exp(m - mn);
    let w = exp(s - mn);
    l = l * corr + w;
    m = mn;
    var c = 0u;
    for (var d = 0u; d < HD; d += 4u) {
      acc[c] = acc[c] * corr + w * ld_v(kb + d, d);
      c++;
    }
  }
  // l ≥ 1: the largest weight is exp(0).
  let inv = 1.0 / l;
  var c = 0u;
  for (var d = 0u; d < HD; d += 4u) {
    store_o(qa + d, d, acc[c] * inv);
    c++;
  }
}
