// `cli gpu`: which adapter the engine gets here, with the limits it requested and the optional features.

import { GpuContext } from '../gpu/context';

export async function gpuCommand(): Promise<void> {
  const ctx = await GpuContext.create();
  console.log(JSON.stringify({ adapter: ctx.adapterName, ...ctx.info }, null, 2));
  ctx.destroy();
}
