// copy_rows: dst rows dst_row … dst_row+rows−1 = src rows src_row … src_row+rows−1, all rows `width` floats;
// scatter: dst row (place[r].start + place[r].pos) = src row r; gather: dst row r = src row (start + pos).
//
// `main` picks a block of rows; `scatter` appends new keys/values to a KV cache that holds several sequences,
// each new row at its own sequence's position (the same `place` pairs attention_decode reads); `gather` picks
// scattered rows of activations (those whose next token is wanted) for the final norm and head. Buffer copies cannot be recorded inside a compute pass (ctx.copy ends it) and bindings
// need 256-byte-aligned offsets, so a row offset is cheapest as a one-line kernel over a flat grid.

const WG: u32 = 64u;

struct Params { rows: u32, width: u32, src_row: u32, dst_row: u32 }

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<uniform> p: Params;
@group(0) @binding(3) var<storage, read> place: array<u32>;

// The (row, column) of the element this invocation copies; row = rows past the end (nothing to do).
fn cell(gid: vec3<u32>, nwg: vec3<u32>) -> vec2<u32> {
  let e = min(gid.x + gid.y * nwg.x * WG, p.rows * p.width);
  return vec2<u32>(e / p.width, e % p.width);
}

// The cache row of row r's place: its sequence's first row plus its position.
fn placed(r: u32) -> u32 {
  return place[2u * r] + place[2u * r + 1u];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rc = cell(gid, nwg);
  if (rc.x >= p.rows) { return; }
  dst[(p.dst_row + rc.x) * p.width + rc.y] = src[(p.src_row + rc.x) * p.width + rc.y];
}

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rc = cell(gid, nwg);
  if (rc.x >= p.rows) { return; }
  dst[placed(rc.x) * p.width + rc.y] = src[rc.x * p.width + rc.y];
}

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let rc = cell(gid, nwg);
  if (rc.x >= p.rows) { return; }
  dst[rc.x * p.width + rc.y] = src[placed(rc.x) * p.width + rc.y];
}
