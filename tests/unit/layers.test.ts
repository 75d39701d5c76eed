// The layering rules of docs/ARCHITECTURE.md ("Layers"), checked on src/'s import graph (parsed, not
// type-checked: well under a second): folders import each other without cycles; production code never imports
// the float64 specification in src/reference/; and the page's code (src/ui/) reaches no GPU code, no weight
// loading and no training internals through any chain of imports that survives compilation — only the worker
// runs those (type-only imports of shared shapes are fine: they are erased).

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { findFolderCycle, folderOf, importGraph, runtimeReach } from '../helpers/importGraph';

const SRC = join(__dirname, '../../src');
const edges = importGraph(SRC);

/** What the page may run of src/train/: settings, presets and their checks, metrics rows, answer-stop names. */
const UI_TRAIN_MODULES = new Set(['train/settings.ts', 'train/presets.ts', 'train/metrics.ts', 'train/answers.ts']);

/** Why a file must not run on the page, or null. */
function engineOnly(path: string): string | null {
  if (path.endsWith('.wgsl')) return 'WGSL shader';
  const folder = folderOf(path);
  if (folder === 'gpu' || folder === 'ops') return `GPU code (src/${folder}/)`;
  if (path === 'model/weights.ts' || path === 'model/memory.ts')
    return 'weight loading and its memory plan (ask the worker)';
  if (folder === 'train' && !UI_TRAIN_MODULES.has(path)) return 'training internals';
  if (folder === 'worker' && path !== 'worker/protocol.ts') return 'the worker itself';
  if (folder === 'reference') return 'the float64 reference';
  return null;
}

describe('layers', () => {
  it('reads the whole graph', () => {
    // Guards the rules below against an empty or broken parse passing them vacuously.
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual({ from: 'model/weights.ts', to: 'ops/quantize.ts', typeOnly: false });
  });

  it('has no import cycle between the folders of src/ (type-only imports included)', () => {
    expect(findFolderCycle(edges)).toBeNull();
  });

  it('keeps src/reference/ out of production code', () => {
    const offenders = edges.filter((e) => folderOf(e.to) === 'reference' && folderOf(e.from) !== 'reference');
    expect(offenders.map((e) => `${e.from} → ${e.to}`)).toEqual([]);
  });

  it('keeps engine code off the page: src/ui/ reaches none of it at run time', () => {
    const uiFiles = [...new Set(edges.map((e) => e.from).filter((f) => folderOf(f) === 'ui'))];
    expect(uiFiles.length).toBeGreaterThan(20);
    const reached = runtimeReach(edges, uiFiles);
    const offenders = [...reached].flatMap(([file, chain]) => {
      const why = engineOnly(file);
      return why ? [`${chain.join(' → ')} (${why})`] : [];
    });
    expect(offenders).toEqual([]);
  });
});

describe('the checks can fail', () => {
  it('finds a folder cycle and a forbidden chain in a made-up graph', () => {
    const made = [
      { from: 'data/a.ts', to: 'train/b.ts', typeOnly: true },
      { from: 'train/b.ts', to: 'data/c.ts', typeOnly: false },
      { from: 'ui/p.tsx', to: 'model/presets.ts', typeOnly: false },
      { from: 'model/presets.ts', to: 'model/memory.ts', typeOnly: false },
      { from: 'ui/q.tsx', to: 'gpu/context.ts', typeOnly: true },
    ];
    expect(findFolderCycle(made)).toEqual(['data', 'train', 'data']);
    const reached = runtimeReach(made, ['ui/p.tsx', 'ui/q.tsx']);
    expect(reached.get('model/memory.ts')).toEqual(['ui/p.tsx', 'model/presets.ts', 'model/memory.ts']);
    expect(reached.has('gpu/context.ts')).toBe(false);
  });
});
