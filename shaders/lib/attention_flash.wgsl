// attention_flash: tile sizes and the Q/K/V loaders of the FlashAttention-2 variant's kernels (appended after attention_common)
//
// A workgroup owns OWN rows (query rows for the forward and dQ, key rows for dK/dV) and streams the other
// side in tiles of TILE rows through workgroup memory. LANES invocations share each owned row: they split
// the row's head-dimension chunks (vec4s) between them for the P·V-like products, so each holds CHUNKS vec4s
// per accumulator instead of the whole row. The values come from src/ops/attention.ts (`flashTiles`), which
// sizes the workgroup arrays below 16 KiB (WebGPU's guaranteed limit) from the model's head dimension.

override OWN: u32;
override TILE: u32;
override LANES: u32;
override HD4: u32 = (HD + 3u) / 4u; // vec4 chunks per head (the last one zero-padded when HD % 4 != 0)
// Row stride of the tiles in vec4s: odd, so that invocations reading the same chunk of different rows (the
// score products) hit different banks of workgroup memory; an even stride put them all in one bank group.
override ROW4: u32 = HD4 | 1u;
override WG_SIZE: u32 = OWN * LANES;
// Invocations per score (owned row × streamed row): with big heads a block has fewer scores than invocations
// (hd 256: 4 × 4 scores, 128 invocations), so SPLIT invocations each take every SPLIT-th chunk of the dot
// products and their partial sums are added in a fixed order after a barrier, rather than 7 in 8 idling.
override SPLIT: u32 = max(1u, LANES / TILE);
override PARTS: u32 = select(1u, OWN * TILE * SPLIT, SPLIT > 1u); // partial sums kept (1: none needed)
override CHUNKS: u32 = (HD4 + LANES - 1u) / LANES; // vec4 chunks one invocation owns in an owned row
const MAX_CHUNKS: u32 = 4u; // private arrays need a constant size: flashTiles keeps CHUNKS within it

// The c-th vec4 chunk of its row that invocation `lane` owns: lane, lane + LANES, … When LANES does not divide
// HD4 the last one may lie past the head: clamped to a valid chunk rather than branched around, its sum is
// computed and never stored.
fn own_chunk(lane: u32, c: u32) -> u32 {
  return min(lane + c * LANES, HD4 - 1u);
}

// Where a tile's e-th staged chunk (row e / HD4, chunk e % HD4) lives in its padded rows.
fn padded(e: u32) -> u32 {
  return (e / HD4) * ROW4 + e % HD4;
}

// Chunk d..d+3 of a head at element g of Q, K or V (every flash kernel binds the three under these names), as a
// vec4: one load when HD % 4 == 0, else realigned from two and zeroed past the head (ld).
fn ld(x: vec4<f32>, y: vec4<f32>, g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return x; }
  return select(vec4<f32>(0.0), realign(x, y, g % 4u), in_head(d));
}

fn ld_q(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return Q[g / 4u]; }
  return ld(Q[g / 4u], Q[g / 4u + 1u], g, d);
}

fn ld_k(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return K[g / 4u]; }
  return ld(K[g / 4u], K[g / 4u + 1u], g, d);
}

fn ld_v(g: u32, d: u32) -> vec4<f32> {
  if (HD % 4u == 0u) { return V[g / 4u]; }
  return ld(V[g / 4u], V[g / 4u + 1u], g, d);
}
