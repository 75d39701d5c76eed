// Dispatch grids. A dimension holds at most maxComputeWorkgroupsPerDimension (65535 by default) workgroups,
// so long 1-D work is folded into x·y; shaders recover the flat index as
//   i = gid.x + gid.y * (num_workgroups.x * WORKGROUP_SIZE).

import type { GpuContext } from '../gpu/context';

export function grid1d(ctx: GpuContext, invocations: number, workgroupSize: number): [number, number] {
  const groups = Math.ceil(invocations / workgroupSize);
  const max = ctx.device.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
