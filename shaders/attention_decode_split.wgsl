// attention_decode_split: flash-decoding — a query's cached keys split over workgroups and their lanes
//
// The same result as attention_decode (n queries, each at its own place = (first cache row of its sequence,
// position), against a KV cache, causal, grouped-query), shaped for hardware GPUs. attention_decode runs one
// invocation per (query, head) walking all its keys: for one new token that is H live lanes on the whole
// GPU, each streaming pos+1 rows serially. Here one workgroup of LANES invocations owns one split of one
// (query, head)'s keys, walking it a tile of LANES keys at a time:
//   1. each lane scores one key (q from workgroup memory, the key row from the cache), into workgroup memory;
//   2. every lane reads the tile's scores for the new running max m, and each writes its key's weight
//      exp(s − m) (one exp per key, not one per key and lane);
//   3. the lanes switch to owning the output: in groups of ⌈HD/4⌉ lanes, each group a share of the tile's
//      keys, lane c of a group accumulates dims 4c..4c+3 of Σ_j w_j·V_j, each value row one coalesced
//      HD-wide load across the group; the groups' sums are added once, after the last tile.
// With one split (`DIRECT`) the workgroup normalises and writes O. With several, `main` writes each split's
// (m, l, unnormalised output) to PART and `combine` (one workgroup per (query, head), a lane per vec4 of
// output) rescales them by exp(m_s − M) in split order: deterministic, no atomics.
// Splits are whole tiles: split s takes keys [s·per, (s+1)·per) of the query's pos+1, per the keys per split
// rounded up to LANES, so a short context leaves later splits empty ((m, l) = (−1e30, 0): weight 0 in the
// combine) instead of splitting 64-key tiles into slivers. The host sizes the split count from the cache's
// capacity, not the (GPU-resident) positions.
// Any n (prefill included: n·H workgroups are then enough and the host picks one split), hd ≤ 256 (one vec4
// of output per lane), hd not a multiple of 4 (realigned loads, as attention_decode). Rows past a query's
// position are never read.
//
// Layouts: Q, O [n, H·HD]; K, V caches [rows, KV·HD]; place [n, 2] u32; PART [n, H, splits, 1 + ⌈HD/4⌉]
// vec4 ((m, l, 0, 0), then the output).

// HD, MAX_HD4, realign and in_head: shaders/lib/attention_common.wgsl.

const LANES: u32 = 64u; // keys per tile, and vec4s of output (MAX_HD4)
// One split: normalise and write O in `main`; no partials, no combine dispatch.
override DIRECT: bool = false;

struct SplitParams {
  n: u32, H: u32, KV: u32, scale: f32,
  splits: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

// Bindings 0–2 are all `combine` reads: its layout is a prefix of main's.
@group(0) @binding(0) var<storage, read_write> PART: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> O: array<f32>;
@group(0) @binding(2) var<uniform> p: SplitParams;
@group(0) @binding(3) var<storage, read> place: array<u32>;
@group(0) @binding(4) var<storage, read> Q: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> K: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> V: array<vec4<f32>>;

var<workgroup> q_sh: array<vec4<f32>, MAX_HD4>; // this head's query, zero past HD
var<workgroup> s_sh: array<f32, LANES>; // the tile's scores
var<workgroup> w_sh: array<f32, LANES>; // the tile's weights exp(s − m); then each lane's l
var<workgroup> part_sh: array<vec4<f32>, LANES>; // each lane's output sum at the end

fn hd4() -> u32 {
  return (HD + 3u) / 4u;
}

fn ld_q(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return Q[g / 4u]; }
  return select(vec4<f32>(0.0), realign(Q[g / 4u], Q[g / 4u + 1u], g % 4u), in_head(d));
}

fn ld_k(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return K[g / 4u]; }
  return select(vec4<f32>(0.0), realign(K[g / 4u], K[g / 4u + 1u], g % 4u), in_head(d));
}

fn ld_v(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return V[g / 4u]; }
  return select(vec4<f32>(0.0), realign(V[g / 4u], V[g / 4u + 1u], g % 4u), in_head(d));
}

fn store_o(g: u32, d: u32, x: vec4<f32>) {
  O[g] = x.x;
  if (HD % 4u == 0u || d + 1u < HD) { O[g + 1u] = x.y; }
  if (HD % 4u == 0u || d + 2u < HD) { O[g + 2u] = x.z; }
  if (HD % 4u == 0u || d + 3u < HD) { O[g + 3u] = x.w; }
}

// vec4s per partial: (m, l, 0, 0), then the unnormalised output.
fn part_stride() -> u32 {
  return 1u + hd4();
}

@compute @workgroup_size(LANES)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let split = wid.x;
  let h = wid.y;
  let i = wid.z;
  let qa = (i * p.H + h) * HD;
  let kv_stride = p.KV * HD;
  let kv_head = (h / (p.H / p.KV)) * HD;
  let start = place[2u * i];
  let keys = place[2u * i + 1u] + 1u;
  let per = ((keys + p.splits - 1u) / p.splits + LANES - 1u) / LANES * LANES;
  let j0 = min(split * per, keys);
  let j1 = min(j0 + per, keys);
  // For the values, lanes form `groups` groups of ⌈HD/4⌉: lane (g, c) owns dims 4c..4c+3 of the tile's keys
  // g, g + groups, … (4 groups at hd 64, 1 at 256), so no lane idles while a head narrower than the
  // workgroup is summed; the groups' sums share every rescaling and are added once, at the end.
  let groups = LANES / hd4();
  let c = lane % hd4();
  let g = lane / hd4();
  let d = 4u * c;
  let owns = g < groups;
  if (lane < hd4()) { q_sh[lane] = ld_q(qa + 4u * lane, 4u * lane); }
  workgroupBarrier();

  // Finite start: the first tile's correction exp(m − m') underflows to 0 without ever forming inf − inf.
  var m = -1.0e30;
  var l = 0.0;
  var acc = vec4<f32>(0.0);
  for (var t0 = j0; t0 < j1; t0 += LANES) {
    let live = min(LANES, j1 - t0);
    var s = -1.0e30; // lanes past the tile's keys weigh exp(−1e30 − m) = 0
    if (lane < live) {
      let kb = kv_head + (start + t0 + lane) * kv_stride;
      var dot_qk = 0.0;
      for (var e = 0u; e < HD; e += 4u) { dot_qk += dot(q_sh[e / 4u], ld_k(kb + e, e)); }
      s = dot_qk * p.scale;
    }
    s_sh[lane] = s;
    workgroupBarrier();
    var mn = m;
    for (var j = 0u; j < live; j++) { mn = max(mn, s_sh[j]); }
    w_sh[lane] = exp(s - mn);
    workgroupBarrier();
    let corr = exp(m - mn);
    var sum = 0.0;
    var pv = vec4<f32>(0.0);
    if (owns) {
      for (var j = g; j < live; j += groups) {
        let w = w_sh[j];
        sum += w;
        pv = fma(vec4<f32>(w), ld_v(kv_head + (start + t0 + j) * kv_stride + d, d), pv);
      }
    }
    l = l * corr + sum;
    acc = acc * corr + pv;
    m = mn;
    workgroupBarrier(); // the next tile rewrites s_sh and w_sh
  }
  // The groups' sums, added in group order by the lanes of group 0.
  part_sh[lane] = acc;
  w_sh[lane] = l;
  workgroupBarrier();
  if (lane >= hd4()) { return; }
  l = 0.0;
  acc = vec4<f32>(0.0);
  for (var k = 0u; k < groups; k++) {
    let at = k * hd4() + c;
    l += w_sh[at];
    acc += part_sh[at];
  }

  if (DIRECT) {
    // l ≥ 1: the largest weight is exp(0).
    store_o(qa + d, d, acc * (1.0 / l));
    return;
  }
  let at = ((i * p.H + h) * p.splits + split) * part_stride();
  if (lane == 0u) { PART[at] = vec4<f32>(m, l, 0.0, 0.0); }
  PART[at + 1u + lane] = acc;
}

// O = Σ_s e^(m_s − M)·acc_s / Σ_s e^(m_s − M)·l_s, M the largest m_s: one workgroup per (query, head).
@compute @workgroup_size(LANES)
fn combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
  let h = wid.x;
  let i = wid.y;
  if (lane >= hd4()) { return; }
  let first = (i * p.H + h) * p.splits * part_stride();
  var big = -1.0e30;
  for (var s = 0u; s < p.splits; s++) { big = max(big, PART[first + s * part_stride()].x); }
  var l = 0.0;
  var acc = vec4<f32>(0.0);
  for (var s = 0u; s < p.splits; s++) {
    let at = first + s * part_stride();
    let w = exp(PART[at].x - big); // empty splits: exp(−1e30 − M) = 0
    l = fma(PART[at].y, w, l);
    acc = fma(PART[at + 1u + lane], vec4<f32>(w), acc);
  }
  let d = 4u * lane;
  store_o((i * p.H + h) * HD + d, d, acc * (1.0 / l));
}
