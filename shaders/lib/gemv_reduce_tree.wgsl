// gemv_reduce_tree: linear_gemv's sum across lanes in workgroup memory, halving the live lanes each step
// (log2 LANES barriers); every adapter can run it.

fn reduce_put(slot: u32, lane: u32, v: vec4<f32>) {
  red[slot * LANES + lane] = v;
}

// Leaves each slot's total at red[slot·LANES]; the caller's barrier makes it visible. Additions in a fixed
// order: deterministic.
fn reduce_finish(lane: u32) {
  for (var half = LANES / 2u; half > 0u; half >>= 1u) {
    for (var e = lane; e < 2u * TOKENS * half; e += LANES) {
      let at = (e / half) * LANES + e % half;
      red[at] += red[at + half];
    }
    workgroupBarrier();
  }
}
