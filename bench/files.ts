// Benchmark result files (Node): bench/results/<name>-<adapter>.json, and where the real model files are.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type AdapterNames, type SaveResults, slug } from './harness';

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'results');
/** The real model and data files (../shared beside the repository, or SHARED_DIR). */
export const SHARED = process.env.SHARED_DIR ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'shared');

/** Writes `bench/results/<name>-<adapter>.json` and returns its path. */
export const saveResults: SaveResults = (ctx: AdapterNames, name: string, results: unknown): string => {
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
};
