// lora_token_product_vec4: C[z] = alpha·Σ_{t in chunk z} X[t,:]ᵀ·Y[t,:] (+ C), vec4 loads
//
// The aligned specialisation of lora_token_product (read that file for the split-K scheme): one vec4 load
// per token for the 4 rows of the block and two for its 8 columns, instead of twelve scalar loads, which is
// what limits a CPU adapter here. Requires M % 4 == 0 and N % 4 == 0 (the host checks and otherwise uses
// lora_token_product). Layouts (row-major): X is [T, M], Y is [T, N].

override ACCUMULATE: bool = false; // C += result (gradient accumulation over micro-batches)

const TM: u32 = 4u;
const TN: u32 = 8u;
const WG: u32 = 64u;

// Row groups (MeTA-LoRA's tasks in one batch): T tokens per group, groups back to back, each with its own
// product. Workgroup z = chunk·groups + group; its result goes to C[chunk·chunk_stride + group·group_stride]
// (split-K partials [chunks, groups, M·N], or with one chunk each group's own output copy).
struct Params {
  M: u32, N: u32, T: u32, chunk: u32, // T: tokens per group; chunk: tokens per workgroup (the last may be shorter)
  blocks_n: u32, blocks: u32, alpha: f32, groups: u32,
  group_stride: u32, chunk_stride: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> Y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  // The block index is folded over x·y (grid1d) so any number of blocks fits the dispatch limits.
  let b = gid.x + gid.y * nwg.x * WG;
  if (b >= p.blocks) { return; }
  let row0 = (b / p.blocks_n) * TM;
  let col0 = (b % p.blocks_n) * TN;
  let group = gid.z % p.groups;
  let chunk = gid.z / p.groups;
  let t0 = group * p.T + chunk * p.chunk;
  let t1 = min(t0 + p.chunk, (group + 1u) * p.T);

  // Column groups of 4; the second re-reads the first when N ends inside this block (never stored).
  let g0 = col0 / 4u;
  let g1 = select(g0, g0 + 1u, col0 + 4u < p.N);
  let m4 = p.M / 4u;
  let n4 = p.N / 4u;

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);

  for (var t = t0; t < t1; t++) {
    let a = X[t * m4 + row0 / 4u];
    let y0 = Y[t * n4 + g0];
    let y1 = Y[t * n4 + g1];
    let a0 = a.x; let a1 = a.y; let a2 = a.z; let a3 = a.w;
    c00 = fma(vec4<f32>(a0), y0, c00); c01 = fma(vec4<f32>(a0), y1, c01);
    c10 = fma(vec4<f32>(a1), y0, c10); c11 = fma(vec4<f32>(a1), y1, c11);
    c20 = fma(vec4<f32>(a2), y0, c20); c21 = fma(vec4<f32>(a2), y1, c21);
    c30 = fma(vec4<f32>(a3), y0, c30); c31 = fma(vec4<f32>(a3), y1, c31);
  }

  let base = chunk * p.chunk_stride + group * p.group_stride;
  store_row(base, row0, col0, c00, c01);
  store_row(base, row0 + 1u, col0, c10, c11);
  store_row(base, row0 + 2u, col0, c20, c21);
  store_row(base, row0 + 3u, col0, c30, c31);
}

fn store_row(base: u32, m: u32, n: u32, lo: vec4<f32>, hi: vec4<f32>) {
  if (m >= p.M) { return; }
  let v = array<f32, 8>(lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w);
  for (var j = 0u; j < TN; j++) {
    if (n + j < p.N) {
      let i = base + m * p.N + n + j;
      if (ACCUMULATE) { C[i] += p.alpha * v[j]; } else { C[i] = p.alpha * v[j]; }
    }
  }
}
