// `npm run bench -- report [--quick]`: the GPU report (bench/reportCore.ts) of this adapter in Node, written as
// bench/results/report-<adapter>.json and .md. `npm run bench -- browser` writes the same report from headless
// Chromium (bench/browser.ts).

import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import type { GpuContext } from '../src/gpu/context';
import { RESULTS_DIR, saveResults } from './files';
import { type AdapterNames, slug } from './harness';
import { runReport } from './reportCore';

export async function benchReport(ctx: GpuContext): Promise<void> {
  const quick = process.argv.includes('--quick');
  const host = () => `load average ${loadavg()[0].toFixed(1)} on ${cpus().length} CPUs at the end`;
  const command = `npm run bench -- report${quick ? ' --quick' : ''}`;
  const { doc, markdown } = await runReport(ctx, { quick, log: (l) => console.log(l), host, command });
  console.log(`\nresults: ${writeReport(ctx, 'report', doc, markdown)}`);
}

/** Writes bench/results/<name>-<adapter>.{json,md}; returns both paths. */
export function writeReport(ctx: AdapterNames, name: string, doc: object, markdown: string): string {
  const json = saveResults(ctx, name, doc);
  const md = join(RESULTS_DIR, `${name}-${slug(ctx.adapterName)}.md`);
  writeFileSync(md, markdown);
  return `${json}\n         ${md}`;
}
