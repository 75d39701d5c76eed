// `cli gpu`: which adapter the engine gets here, with the limits it requested, the optional features and the
// kernel variants it runs (measured once per adapter unless --kernels says otherwise).

import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { UsageError } from './args';
import { defineCommand, parseCommandArgs, usageLine } from './flags';

export const GPU = defineCommand({
  name: 'gpu',
  args: '',
  flags: { ...KERNEL_FLAGS },
  summary: 'print the WebGPU adapter, its limits, features and kernel variants as JSON',
});

export async function gpuCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, GPU);
  if (positionals.length) throw new UsageError(`gpu takes no arguments.\n${usageLine(GPU)}`);
  const ctx = await openGpu(parseKernelSetting(values.kernels));
  console.log(JSON.stringify({ adapter: ctx.adapterName, ...ctx.info, kernels: ctx.kernels.current }, null, 2));
  ctx.destroy();
}
