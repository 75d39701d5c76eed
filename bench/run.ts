// `npm run bench -- NAME...`: runs the named benchmarks on the current adapter (all when none is named).

import { GpuContext } from '../src/gpu/context';
import { benchBrowser } from './browser';
import { benchDispatches } from './dispatches';
import { saveResults } from './files';
import type { SaveResults } from './harness';
import { benchEval } from './eval';
import { benchGenerate } from './generate';
import { benchKernels } from './kernels';
import { benchMatmul } from './matmul';
import { benchReport } from './report';
import { benchParsing } from './parsing';
import { benchTrain } from './train';
import { benchVariants } from './variants';

const BENCHMARKS: Record<string, (ctx: GpuContext, save: SaveResults) => Promise<void>> = {
  matmul: (ctx) => benchMatmul(ctx),
  kernels: benchKernels,
  train: benchTrain,
  eval: benchEval,
  dispatches: benchDispatches,
  report: benchReport,
  generate: benchGenerate,
  parsing: benchParsing,
  variants: benchVariants,
  browser: () => benchBrowser(),
};

// Names are bare words; flags (--layers 4) are read by the benchmarks themselves.
const names = process.argv.slice(2).filter((a) => /^[a-z]\w*$/.test(a));
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`Unknown benchmark(s): ${unknown.join(', ')}. Available: ${Object.keys(BENCHMARKS).join(', ')}`);
  process.exit(2);
}
const ctx = await GpuContext.create();
console.log(`adapter: ${ctx.adapterName} (${ctx.info.runtime}${ctx.info.isSoftware ? ', software' : ''})`);
for (const name of names.length ? names : Object.keys(BENCHMARKS)) {
  console.log(`\n== ${name} ==`);
  await BENCHMARKS[name](ctx, saveResults);
}
ctx.destroy();
process.exit(0);
