// Shared benchmark plumbing that runs anywhere (Node or a browser page, bench.html): timing with GPU sync,
// names and tables. Writing result files is Node's (bench/files.ts); the measurements the browser report uses
// take a `SaveResults` instead of importing it.

import type { GpuContext } from '../src/gpu/context';

/** What names a result file: a context, or a browser page's report of its adapter. */
export type AdapterNames = Pick<GpuContext, 'adapterName' | 'info'>;

/** Writes a benchmark's results under its name and the adapter's; returns where. */
export type SaveResults = (ctx: AdapterNames, name: string, results: unknown) => string;

/**
 * Median seconds per call of `run` (which records GPU work), after one warm-up call. `sync` waits for the
 * GPU. Repeats until `minSeconds` have passed, at least `minReps` times.
 */
export async function timeIt(run: () => void, sync: () => Promise<void>, minReps = 3, minSeconds = 1): Promise<number> {
  run();
  await sync();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || performance.now() - start < minSeconds * 1000) {
    const t0 = performance.now();
    run();
    await sync();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

export function slug(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export function table(rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0] ?? {});
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(w[i])).join('  ');
  return [line(cols), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}
