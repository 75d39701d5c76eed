// copy_rows: dst rows dst_row … dst_row+rows−1 = src rows src_row … src_row+rows−1, all rows `width` floats
//
// Appends the new keys/values into a KV cache at the current position and picks the last row of a block
// of activations. Buffer copies cannot be recorded inside a compute pass (ctx.copy ends it) and bindings
// need 256-byte-aligned offsets, so a row offset is cheapest as a one-line kernel over a flat grid.

const WG: u32 = 64u;

struct Params { rows: u32, width: u32, src_row: u32, dst_row: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * WG;
  if (e >= p.rows * p.width) { return; }
  let r = e / p.width;
  let c = e % p.width;
  dst[(p.dst_row + r) * p.width + c] = src[(p.src_row + r) * p.width + c];
}
