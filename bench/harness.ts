// Shared benchmark plumbing: timing with GPU sync, result files named after the adapter.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/context';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');
/** The real model and data files (../shared beside the repository, or SHARED_DIR). */
export const SHARED = process.env.SHARED_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');

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

/** Writes `bench/results/<name>-<adapter>.json` and returns its path. */
export function saveResults(ctx: GpuContext, name: string, results: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}-${slug(ctx.adapterName)}.json`);
  const doc = {
    benchmark: name,
    adapter: ctx.adapterName,
    software: ctx.info.isSoftware,
    runtime: ctx.info.runtime,
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}`,
    results,
  };
  writeFileSync(path, JSON.stringify(doc, null, 2) + '\n');
  return path;
}

export function table(rows: Record<string, string | number>[]): string {
  const cols = Object.keys(rows[0] ?? {});
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padStart(w[i])).join('  ');
  return [line(cols), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n');
}
