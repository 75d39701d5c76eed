// Kernel selection by measurement: each kernel family with more than one variant offers a `KernelProbe` (a
// representative workload of its op); `tuneKernels` runs every candidate on this adapter, checks its output
// against the family's reference variant (so a variant a driver miscompiles is never chosen), times it and
// adopts the fastest. `chooseKernels` does that once per adapter and kernel sources, keeping the result in a
// store (src/gpu/kernelChoice.ts). Probes live beside their op; the list is here.

import type { GpuContext } from '../gpu/context';
import type { FamilyChoice, KernelChoiceRecord, KernelChoiceStore } from '../gpu/kernelChoice';
import type { Tensor } from '../gpu/tensor';
import { attentionProbe } from './attention';
import { matmulProbe } from './matmul';
import { attentionDecodeProbe } from './attentionDecode';
import { linearGemvProbe } from './linearGemv';
import { linearDxProbe, linearProbe } from './linear';

/** A representative workload of one op, allocated once and run under each variant. */
export interface ProbeWorkload {
  /** Records the op (the tuner forces the variant); returns its output, the same tensor every call. */
  run(): Tensor<'f32'>;
  release(): void;
}

export interface KernelProbe {
  /** The family name ops look up in `ctx.kernels` (and `--kernels family=variant` forces). */
  family: string;
  /** The candidates this adapter can run, the reference (checked against) first. */
  variants(ctx: GpuContext): readonly string[];
  /** The kernels' WGSL: stored choices are remeasured when any of it changes. */
  sources: readonly string[];
  setup(ctx: GpuContext): ProbeWorkload;
  /** Largest |a − b| / (1 + |ref|) accepted between a candidate's output and the reference's (default 1e-3). */
  tolerance?: number;
}

/** Every family with a choice to make. */
export const KERNEL_PROBES: readonly KernelProbe[] = [
  matmulProbe,
  linearProbe,
  linearDxProbe,
  linearGemvProbe,
  attentionProbe,
  attentionDecodeProbe,
];

/**
 * A candidate replaces the reference variant only when its median is at least this much lower: the reference
 * is the proven kernel, and a smaller gain is within what a busy machine's timings wander (on a loaded
 * SwiftShader, a 2× slower kernel once won by a few percent without it).
 */
export const SWITCH_MARGIN = 0.1;

export interface TuneOptions {
  /** Measure each candidate for at least this long (after one warm-up run), at least 3 runs. Default 150 ms (60 on CPU adapters). */
  minMs?: number;
  log?: (line: string) => void;
  /** The cost of one synced run of the workload (default: its wall-clock ms). */
  sample?: (ctx: GpuContext, work: ProbeWorkload) => Promise<number>;
  /** Called before each family is measured and once at the end (done = total). */
  progress?: (done: number, total: number) => void;
}

/** Measures every probe's candidates and adopts the fastest correct one per family. */
export async function tuneKernels(
  ctx: GpuContext,
  probes: readonly KernelProbe[] = KERNEL_PROBES,
  opts: TuneOptions = {},
): Promise<Record<string, FamilyChoice>> {
  const chosen: Record<string, FamilyChoice> = {};
  for (const [i, probe] of probes.entries()) {
    opts.progress?.(i, probes.length);
    const variants = probe.variants(ctx);
    if (variants.length < 2) continue;
    const choice = await measureFamily(ctx, probe, variants, opts);
    opts.log?.(`${probe.family}: ${describe(choice)}`);
    chosen[probe.family] = choice;
  }
  opts.progress?.(probes.length, probes.length);
  ctx.kernels.adopt(chosen);
  return chosen;
}

async function measureFamily(
  ctx: GpuContext,
  probe: KernelProbe,
  variants: readonly string[],
  opts: TuneOptions,
): Promise<FamilyChoice> {
  const forced = ctx.kernels.forcedFor(probe.family);
  const work = probe.setup(ctx);
  const rejected: Record<string, string> = {};
  let samples: Map<string, number[]>;
  try {
    const correct = await checkedVariants(ctx, probe, variants, work, rejected);
    samples = await sampleInRounds(ctx, probe.family, correct, work, opts);
  } finally {
    ctx.kernels.force(probe.family, forced);
    work.release();
  }
  const ms = Object.fromEntries([...samples].map(([v, t]) => [v, median(t)]));
  const [best] = Object.entries(ms).sort((a, b) => a[1] - b[1])[0];
  const variant = ms[best] <= (1 - SWITCH_MARGIN) * ms[variants[0]] ? best : variants[0];
  return Object.keys(rejected).length ? { variant, ms, rejected } : { variant, ms };
}

/**
 * Runs each candidate once (building its pipeline) and keeps those whose output matches the reference
 * variant's; the others go into `rejected` with the reason. A failing reference is an error.
 */
async function checkedVariants(
  ctx: GpuContext,
  probe: KernelProbe,
  variants: readonly string[],
  work: ProbeWorkload,
  rejected: Record<string, string>,
): Promise<string[]> {
  const correct: string[] = [];
  let reference: Float32Array | undefined;
  for (const variant of variants) {
    ctx.kernels.force(probe.family, variant);
    try {
      const out = await ctx.read(work.run());
      reference ??= out;
      const err = relativeError(out, reference);
      if (err <= (probe.tolerance ?? 1e-3)) correct.push(variant);
      else rejected[variant] = `output differs from ${variants[0]}'s by ${err.toExponential(2)}`;
    } catch (e) {
      if (variant === variants[0]) throw e;
      rejected[variant] = (e as Error).message;
    }
  }
  return correct;
}

/**
 * Samples the candidates in turn, one run each per round, until each has ≥ 3 samples and ≥ minMs of them:
 * interleaved, so a change in the machine's load falls on every candidate alike.
 */
async function sampleInRounds(
  ctx: GpuContext,
  family: string,
  variants: readonly string[],
  work: ProbeWorkload,
  opts: TuneOptions,
): Promise<Map<string, number[]>> {
  const sample = opts.sample ?? wallClockMs;
  // CPU adapters' variants differ by 2–5× (docs/ARCHITECTURE.md): shorter runs tell them apart.
  const minMs = opts.minMs ?? (ctx.info.isSoftware ? 60 : 150);
  const samples = new Map(variants.map((v) => [v, [] as number[]]));
  const total = (v: string) => samples.get(v)!.reduce((a, b) => a + b, 0);
  while (variants.some((v) => samples.get(v)!.length < 3 || total(v) < minMs)) {
    for (const variant of variants) {
      ctx.kernels.force(family, variant);
      samples.get(variant)!.push(await sample(ctx, work));
    }
  }
  return samples;
}

async function wallClockMs(ctx: GpuContext, work: ProbeWorkload): Promise<number> {
  const t0 = performance.now();
  work.run();
  await ctx.sync();
  return performance.now() - t0;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** max |a − b| / (1 + |b|): NaN anywhere makes it NaN (rejected). */
function relativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const e = Math.abs(a[i] - b[i]) / (1 + Math.abs(b[i]));
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

function describe(c: FamilyChoice): string {
  const times = Object.entries(c.ms).map(([v, t]) => `${v} ${t.toFixed(2)} ms`);
  const bad = Object.entries(c.rejected ?? {}).map(([v, why]) => `${v} rejected (${why})`);
  return `${c.variant} (${[...times, ...bad].join(', ')})`;
}

/** The store key: the adapter, its features and every probed kernel's source, hashed. */
export function choiceKey(ctx: GpuContext, probes: readonly KernelProbe[] = KERNEL_PROBES): string {
  const i = ctx.info;
  const text = [i.runtime, ctx.adapterName, i.features.join(','), ...probes.flatMap((p) => [p.family, ...p.sources])];
  return `${i.runtime}|${ctx.adapterName}|${fnv1a(text.join('\u0000'))}`;
}

/**
 * The measured choices for this adapter: loaded from `store` when measured before with the same kernels,
 * else measured now (a few seconds) and saved. Adopted into `ctx.kernels` either way.
 */
export async function chooseKernels(
  ctx: GpuContext,
  store: KernelChoiceStore,
  opts: TuneOptions & { probes?: readonly KernelProbe[] } = {},
): Promise<KernelChoiceRecord> {
  const probes = opts.probes ?? KERNEL_PROBES;
  const key = choiceKey(ctx, probes);
  const stored = await store.load(key);
  if (stored) {
    ctx.kernels.adopt(stored.families);
    return stored;
  }
  opts.log?.(`Measuring kernel variants for ${ctx.adapterName} (once; kept in ${store.where})`);
  const families = await tuneKernels(ctx, probes, opts);
  const record = { key, adapter: ctx.adapterName, measuredAt: new Date().toISOString(), families };
  await store.save(record);
  return record;
}

/** FNV-1a, 32 bits, as 8 hex digits: a fingerprint, not a security hash. */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}
