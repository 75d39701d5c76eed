// Kernel selection by measurement (src/ops/tuning.ts, src/gpu/kernelChoice.ts, src/cli/kernels.ts): the
// fastest candidate whose output matches the reference variant is adopted; a wrong or failing candidate is
// never chosen; choices are measured once per adapter and kernel sources, then loaded; forcing wins.
// Costs are counted in dispatches here (an injected measure), so no assertion depends on the clock.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { KernelChoiceRecord, KernelChoiceStore } from '../../src/gpu/kernelChoice';
import { matmul, matmulVariant } from '../../src/ops/matmul';
import { probeValues } from '../../src/ops/probeInputs';
import { type KernelProbe, type ProbeWorkload, SWITCH_MARGIN, chooseKernels, tuneKernels } from '../../src/ops/tuning';
import { fileKernelStore, parseKernelSetting } from '../../src/cli/kernels';
import { gpu } from '../helpers/gpu';

/** Cost of one run = the dispatches it records: deterministic, unlike time. */
async function dispatchCost(ctx: GpuContext, work: ProbeWorkload): Promise<number> {
  const before = ctx.stats.dispatches;
  work.run();
  await ctx.sync();
  return ctx.stats.dispatches - before;
}

/**
 * A family whose variants all compute C = A·B with matmuls but differ in cost and correctness: each runs the
 * product `costs[variant]` times (default: 'ref' 4, 'fast' 1), 'wrong' doubles C, 'broken' throws.
 */
function toyProbe(sources = ['toy v1'], costs: Record<string, number> = { ref: 4, fast: 1 }): KernelProbe {
  return {
    family: 'toy',
    variants: () => [...Object.keys(costs), 'wrong', 'broken'],
    sources,
    setup(ctx) {
      const [M, N, K] = [5, 7, 3];
      const a = ctx.upload(probeValues(M * K, 1), [M, K]);
      const b = ctx.upload(probeValues(K * N, 2), [K, N]);
      const c = ctx.tensor([M, N]);
      return {
        run() {
          const v = ctx.kernels.variant<string>('toy', 'ref');
          if (v === 'broken') throw new Error('no pipeline for this adapter');
          for (let i = 0; i < (costs[v] ?? 1); i++) matmul(ctx, a, b, M, N, K, { alpha: v === 'wrong' ? 2 : 1 }, c);
          return c;
        },
        release: () => [a, b, c].forEach((t) => t.release()),
      };
    },
  };
}

function memoryStore(): KernelChoiceStore & { saved: KernelChoiceRecord[] } {
  const saved: KernelChoiceRecord[] = [];
  return {
    saved,
    where: 'memory',
    load: async (key) => saved.find((r) => r.key === key),
    save: async (r) => void saved.push(r),
  };
}

afterEach(async () => (await gpu()).kernels.clear());

describe('kernel tuning', () => {
  it('adopts the cheapest candidate whose output matches the reference, and says why the others lost', async () => {
    const ctx = await gpu();
    const chosen = await tuneKernels(ctx, [toyProbe()], { sample: dispatchCost, minMs: 0 });
    expect(chosen.toy.variant).toBe('fast');
    expect(chosen.toy.ms).toEqual({ ref: 4, fast: 1 });
    expect(chosen.toy.rejected?.wrong).toMatch(/output differs from ref's/);
    expect(chosen.toy.rejected?.broken).toBe('no pipeline for this adapter');
    expect(ctx.kernels.variant('toy', 'ref')).toBe('fast');
  });

  it('keeps the reference unless a candidate is at least SWITCH_MARGIN faster', async () => {
    const ctx = await gpu();
    const opts = { sample: dispatchCost, minMs: 0 };
    expect(SWITCH_MARGIN).toBe(0.1);
    const close = await tuneKernels(ctx, [toyProbe(['a'], { ref: 20, almost: 19 })], opts);
    expect(close.toy).toMatchObject({ variant: 'ref', ms: { ref: 20, almost: 19 } });
    const enough = await tuneKernels(ctx, [toyProbe(['b'], { ref: 20, faster: 18 })], opts);
    expect(enough.toy.variant).toBe('faster');
  });

  it('keeps a forced variant over the measurement, and the measurement for the rest', async () => {
    const ctx = await gpu();
    ctx.kernels.force('toy', 'ref');
    await tuneKernels(ctx, [toyProbe()], { sample: dispatchCost, minMs: 0 });
    expect(ctx.kernels.variant('toy', 'fast')).toBe('ref');
    ctx.kernels.force('toy', undefined);
    expect(ctx.kernels.variant('toy', 'ref')).toBe('fast');
  });

  it('measures once per adapter and kernel sources, then loads the stored choice', async () => {
    const ctx = await gpu();
    const store = memoryStore();
    const probe = toyProbe();
    const setup = vi.spyOn(probe, 'setup');
    const first = await chooseKernels(ctx, store, { probes: [probe], sample: dispatchCost, minMs: 0 });
    expect(store.saved).toHaveLength(1);
    expect(setup).toHaveBeenCalledTimes(1);
    ctx.kernels.clear();
    const again = await chooseKernels(ctx, store, { probes: [probe], sample: dispatchCost, minMs: 0 });
    expect(setup).toHaveBeenCalledTimes(1); // loaded, not measured
    expect(again).toEqual(first);
    expect(ctx.kernels.variant('toy', 'ref')).toBe('fast');
    // Changed kernels are measured again.
    await chooseKernels(ctx, store, { probes: [toyProbe(['toy v2'])], sample: dispatchCost, minMs: 0 });
    expect(store.saved).toHaveLength(2);
    expect(store.saved[1].key).not.toBe(store.saved[0].key);
  });

  it('matmul runs the variant ctx.kernels names, unless the call names one', async () => {
    const ctx = await gpu();
    const o = { transB: true };
    ctx.kernels.force('matmul', 'tiled');
    expect(matmulVariant(ctx, 64, 64, 64, o)).toBe('tiled');
    ctx.kernels.force('matmul', 'blocked');
    expect(matmulVariant(ctx, 64, 64, 64, o)).toBe('blocked_vec4');
    expect(matmulVariant(ctx, 63, 63, 63, o)).toBe('blocked');
    expect(matmulVariant(ctx, 64, 64, 64, { ...o, variant: 'tiled' })).toBe('tiled');
  });
});

describe('kernel choices on disk and --kernels', () => {
  const record = (key: string): KernelChoiceRecord => ({
    key,
    adapter: 'test adapter',
    measuredAt: '2026-12-06T00:00:00.000Z',
    families: { matmul: { variant: 'tiled', ms: { blocked: 2, tiled: 1 } } },
  });

  it('round-trips records in one JSON file, replacing a record with the same key', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kernels-')), 'sub', 'kernels.json');
    const store = fileKernelStore(path);
    expect(await store.load('a')).toBeUndefined();
    await store.save(record('a'));
    await store.save(record('b'));
    await store.save({ ...record('a'), adapter: 'again' });
    expect((await store.load('a'))?.adapter).toBe('again');
    expect((await store.load('b'))?.families.matmul.variant).toBe('tiled');
    expect(JSON.parse(readFileSync(path, 'utf8')).records).toHaveLength(2);
  });

  it('replaces an unreadable file with a warning instead of failing', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'kernels-')), 'kernels.json');
    writeFileSync(path, '{ not json');
    const warn = vi.spyOn(console, 'error').mockImplementation(() => {});
    const store = fileKernelStore(path);
    expect(await store.load('a')).toBeUndefined();
    expect(warn.mock.calls[0][0]).toMatch(/is not a kernel choice file; measuring again/);
    await store.save(record('a'));
    expect((await store.load('a'))?.adapter).toBe('test adapter');
    warn.mockRestore();
  });

  it('parses --kernels: auto, defaults, and forced families', () => {
    expect(parseKernelSetting('auto')).toEqual({ mode: 'auto', forced: {} });
    expect(parseKernelSetting('defaults')).toEqual({ mode: 'defaults', forced: {} });
    expect(parseKernelSetting('matmul=tiled, attention=flash')).toEqual({
      mode: 'auto',
      forced: { matmul: 'tiled', attention: 'flash' },
    });
    expect(() => parseKernelSetting('matmul')).toThrow(/"matmul" is not FAMILY=VARIANT/);
  });
});
