// swiglu_backward: du = dh·silu(g), dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), elementwise over [T, F]
//
// 1 − σ(g) cancels badly as σ → 1 (g ≫ 0); there it equals exp(−g)·σ(g), which is exact to a few ULP and
// finite (exp(−g) ≤ 1). For g < 0, σ ≤ 1/2 and 1 − σ is exact, while exp(−g)·σ could be inf·0.
// One element per invocation over a folded 2-D grid (grid1d).

const WG: u32 = 64u;

struct Params { n: u32, _pad0: u32, _pad1: u32, _pad2: u32 }

@group(0) @binding(0) var<storage, read> dh: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> dg: array<f32>;
@group(0) @binding(4) var<storage, read_write> du: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * (nwg.x * WG);
  if (i >= p.n) { return; }
  let gi = g[i];
  let e = exp(-gi);
  let s = 1.0 / (1.0 + e);
  let one_minus_s = select(1.0 - s, e * s, gi >= 0.0);
  let d = dh[i];
  du[i] = d * gi * s;
  dg[i] = d * u[i] * s * (1.0 + gi * one_minus_s);
}
