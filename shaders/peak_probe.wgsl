// peak_probe: the adapter's attainable f32 arithmetic rate (entry `fma`) and memory bandwidth (entry `copy`)
//
// The benchmark report divides each kernel's rate by these, so "share of peak" is measured on the machine at
// hand rather than taken from a spec sheet. `fma`: every invocation runs ITERS rounds of 8 independent vec4
// multiply-adds (enough independent chains to hide FMA latency on GPUs and to fill SIMD lanes on CPUs), on
// values that stay finite (the bench zeroes src), and stores one sum so the loop is not removed. `copy`: one vec4 read and one vec4
// write per invocation over buffers much larger than any cache. Workgroups are numbered across x·y (grid1d).

override WG: u32 = 64u;
override ITERS: u32 = 256u;

struct Params { n: u32 }

@group(0) @binding(0) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn fma(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  let m = vec4<f32>(0.999, 0.998, 0.997, 0.996);
  // One read of src (a few cached lines): it keeps the binding in the layout both entries share.
  let c = vec4<f32>(f32(i & 7u) * 1e-3) + src[i & 63u] * 1e-6;
  var a0 = c; var a1 = c + 0.1; var a2 = c + 0.2; var a3 = c + 0.3;
  var a4 = c + 0.4; var a5 = c + 0.5; var a6 = c + 0.6; var a7 = c + 0.7;
  for (var k = 0u; k < ITERS; k++) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
  }
  dst[i] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7));
}

@compute @workgroup_size(WG)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * WG;
  if (i >= p.n) { return; }
  dst[i] = src[i];
}
