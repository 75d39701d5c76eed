// attention_bwd_stats: per query row, the two statistics both gradient passes need: (lse, D = rowsum(dO ⊙ O))
//
// dS = P ⊙ (dP − D) needs D_i = Σ_d dO_id·O_id (the softmax Jacobian term) for every query row; computing
// it once here keeps it out of the dK/dV pass, which would otherwise redo it for every key. lse is copied
// next to D so the gradient passes read both with one vec2 load and bind one buffer for them: that keeps
// the dK/dV pass within WebGPU's default of 8 storage buffers per shader stage.
//
// Layouts: O, dO [B·S, H·HD]; LSE [B, H, S]; STATS [B, H, S] of vec2 (lse, D); lengths [B].
// Padding rows (position ≥ length) get (0, 0); they are never read.

// HD, WG, ROWS, MAX_HD4, Params, realign and in_head: shaders/lib/attention_common.wgsl.

@group(0) @binding(0) var<storage, read> O: array<f32>;
@group(0) @binding(1) var<storage, read> dO: array<f32>;
@group(0) @binding(2) var<storage, read> LSE: array<f32>;
@group(0) @binding(3) var<storage, read> lengths: array<u32>;
@group(0) @binding(4) var<storage, read_write> STATS: array<vec2<f32>>;
@group(0) @binding(5) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let h = gid.y;
  let b = gid.z;
  if (i >= p.S) { return; }
  let row = (b * p.H + h) * p.S + i;
  if (i >= min(lengths[b], p.S)) {
    STATS[row] = vec2<f32>(0.0);
    return;
  }
  let base = (b * p.S + i) * p.H * HD + h * HD;
  var acc = 0.0;
  for (var d = 0u; d < HD; d++) { acc = fma(dO[base + d], O[base + d], acc); }
  STATS[row] = vec2<f32>(LSE[row], acc);
}
