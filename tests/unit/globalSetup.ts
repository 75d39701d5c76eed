// Measures the kernel variants once for the whole run (into METALORA_KERNEL_CACHE, a temp file set by
// vitest.config.ts), so the CLI processes the tests start load the choice instead of each measuring it.

import { fileKernelStore } from '../../src/cli/kernels';
import { GpuContext } from '../../src/gpu/context';
import { chooseKernels } from '../../src/ops/tuning';

export default async function setup(): Promise<void> {
  const ctx = await GpuContext.create();
  try {
    await chooseKernels(ctx, fileKernelStore());
  } finally {
    ctx.destroy();
  }
}
