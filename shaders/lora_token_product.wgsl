// lora_token_product: C[z] = alpha·Σ_{t in chunk z} X[t,:]ᵀ·Y[t,:] (+ C), a weight gradient summed over tokens
//
// LoRA weight gradients (dA = dhᵀ·x, dB = dyᵀ·h, dΛ = dzᵀ·h, …) contract over the token axis T, which is long
// (hundreds to thousands), while the outputs are small (r×in, out×r, r×r). One pass over all of T leaves most
// of a GPU idle, so T is split into chunks (workgroup z = chunk) whose partial products land in a scratch
// tensor [chunks, M, N]; splitk_reduce.wgsl then sums them in a fixed order (deterministic, no atomics).
// With a single chunk the kernel writes the final result directly (alpha and accumulation applied here).
//
// Each invocation owns a TM×TN = 4×8 block of C in eight named vec4 accumulators (as matmul_blocked: CPU
// adapters spill dynamically indexed arrays). Blocks are numbered with the N axis fastest so neighbouring
// invocations read neighbouring columns of Y. Layouts (row-major): X is [T, M], Y is [T, N].
// Any M, N, T: loads clamp to the last valid row/column and stores are guarded.

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

@group(0) @binding(0) var<storage, read> X: array<f32>;
@group(0) @binding(1) var<storage, read> Y: array<f32>;
@group(0) @binding(2) var<storage, read_write> C: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn y_row4(base: u32, n0: u32, n1: u32, n2: u32, n3: u32) -> vec4<f32> {
  return vec4<f32>(Y[base + n0], Y[base + n1], Y[base + n2], Y[base + n3]);
}

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

  let lm = p.M - 1u;
  let ln = p.N - 1u;
  let m0 = row0; let m1 = min(row0 + 1u, lm); let m2 = min(row0 + 2u, lm); let m3 = min(row0 + 3u, lm);
  let n0 = col0; let n1 = min(col0 + 1u, ln); let n2 = min(col0 + 2u, ln); let n3 = min(col0 + 3u, ln);
  let n4 = min(col0 + 4u, ln); let n5 = min(col0 + 5u, ln); let n6 = min(col0 + 6u, ln); let n7 = min(col0 + 7u, ln);

  var c00 = vec4<f32>(0.0); var c01 = vec4<f32>(0.0);
  var c10 = vec4<f32>(0.0); var c11 = vec4<f32>(0.0);
  var c20 = vec4<f32>(0.0); var c21 = vec4<f32>(0.0);
  var c30 = vec4<f32>(0.0); var c31 = vec4<f32>(0.0);

  for (var t = t0; t < t1; t++) {
    let xb = t * p.M;
    let yb = t * p.N;
    let y0 = y_row4(yb, n0, n1, n2, n3);
    let y1 = y_row4(yb, n4, n5, n6, n7);
    let a0 = X[xb + m0]; let a1 = X[xb + m1]; let a2 = X[xb + m2]; let a3 = X[xb + m3];
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
