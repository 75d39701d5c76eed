// `npm run bench -- variants`: every kernel family's candidates on this adapter, timed by the tuner itself
// (src/ops/tuning.ts: the probe's workload, each candidate checked against the reference variant, median of
// ≥ 3 synced runs over ≥ 1 s), with the choice a user's session would adopt. Written to
// bench/results/variants-<adapter>.json; the report includes the same table.

import type { GpuContext } from '../src/gpu/context';
import type { FamilyChoice } from '../src/gpu/kernelChoice';
import { KERNEL_PROBES, tuneKernels } from '../src/ops/tuning';
import { type SaveResults } from './harness';

export interface VariantRow extends Record<string, string | number> {
  family: string;
  variant: string;
  ms: number | string;
  'vs reference': string;
  chosen: string;
}

/** Measures every family (adopting the choices into ctx.kernels) and returns one row per candidate. */
export async function measureVariants(
  ctx: GpuContext,
  log: (line: string) => void = (l) => console.log(l),
): Promise<VariantRow[]> {
  const chosen = await tuneKernels(ctx, KERNEL_PROBES, { minMs: 1000, log });
  return KERNEL_PROBES.flatMap((probe) => rows(probe.family, probe.variants(ctx), chosen[probe.family]));
}

function rows(family: string, variants: readonly string[], c: FamilyChoice | undefined): VariantRow[] {
  if (!c) return [{ family, variant: variants[0] ?? '—', ms: '—', 'vs reference': '—', chosen: 'only candidate' }];
  const ref = c.ms[variants[0]];
  return variants.map((variant) => {
    const ms = c.ms[variant];
    return {
      family,
      variant,
      ms: ms === undefined ? `rejected: ${c.rejected?.[variant] ?? 'not measured'}` : +ms.toFixed(3),
      'vs reference': ms === undefined ? '—' : `${(ref / ms).toFixed(2)}×`,
      chosen: variant === c.variant ? 'yes' : '',
    };
  });
}

export async function benchVariants(ctx: GpuContext, saveResults: SaveResults): Promise<void> {
  const table = await measureVariants(ctx);
  console.table(table);
  console.log(`results: ${saveResults(ctx, 'variants', { variants: table, chosen: ctx.kernels.current })}`);
}
