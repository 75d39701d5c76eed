// `cli gpu`: which adapter the engine gets here, with the limits it requested and the optional features.

import { GpuContext } from '../gpu/context';
import { UsageError } from './args';
import { defineCommand, parseCommandArgs, usageLine } from './flags';

export const GPU = defineCommand({
  name: 'gpu',
  args: '',
  flags: {},
  summary: 'print the WebGPU adapter, its limits and features as JSON',
});

export async function gpuCommand(args: string[]): Promise<void> {
  const { positionals } = parseCommandArgs(args, GPU);
  if (positionals.length) throw new UsageError(`gpu takes no arguments.\n${usageLine(GPU)}`);
  const ctx = await GpuContext.create();
  console.log(JSON.stringify({ adapter: ctx.adapterName, ...ctx.info }, null, 2));
  ctx.destroy();
}
