// gemv_reduce_subgroup: linear_gemv's sum across lanes with subgroupAdd (needs the `subgroups` feature; the
// op prepends `enable subgroups;`): each subgroup's sum lands at its elected lane's place, zeros elsewhere,
// then one invocation per slot adds its LANES places in order — no tree of barriers. The subgroup size
// (4 on SwiftShader, 32 or 64 on GPUs) and lane layout are not assumed; only the grouping of the sum
// depends on them.

fn reduce_put(slot: u32, lane: u32, v: vec4<f32>) {
  let sum = subgroupAdd(v);
  red[slot * LANES + lane] = select(vec4<f32>(0.0), sum, subgroupElect());
}

// Leaves each slot's total at red[slot·LANES]; the caller's barrier makes it visible.
// Slots outnumber the lanes when K is short (2T slots, K = 64 has 8 lanes): each lane takes every LANES-th.
fn reduce_finish(lane: u32) {
  for (var slot = lane; slot < 2u * TOKENS; slot += LANES) {
    var total = vec4<f32>(0.0);
    for (var j = 0u; j < LANES; j++) { total += red[slot * LANES + j]; }
    red[slot * LANES] = total;
  }
}
