// linearGemv: the decode path of `linear` (family 'linear_gemv' in `ctx.kernels`). With T ≤ 8 tokens the
// training-shaped kernels waste most of their 8-token rows and walk all of K in one invocation per 8
// outputs; `linear_gemv` gives each 8 output rows a workgroup whose invocations split K and sum across
// lanes (shaders/linear_gemv.wgsl). Variants: 'blocked' (the linear kernels: the reference, and the default
// on CPU adapters), 'gemv' (workgroup-memory tree reduction), 'gemv_subgroup' (subgroupAdd; only where the
// adapter has subgroups). `linear` asks `gemvKernel` first and dispatches what it returns with its own
// parameters and bindings, so the epilogue (alpha, accumulate, low-rank, gated) is the same.

import type { GpuContext } from '../gpu/context';
import { withLib } from '../gpu/wgsl';
import { quantize } from '../io/quant';
import { linear } from './linear';
import { probeValues } from './probeInputs';
import type { KernelProbe } from './tuning';
import { uploadWeight, type Weight, type WeightType } from './weight';
import linearLib from '../../shaders/lib/linear_common.wgsl?raw';
import swigluLib from '../../shaders/lib/swiglu_common.wgsl?raw';
import gemvSrc from '../../shaders/linear_gemv.wgsl?raw';
import blockedQ4Src from '../../shaders/linear_q4_0.wgsl?raw';
import f16Lib from '../../shaders/lib/gemv_f16.wgsl?raw';
import q8Lib from '../../shaders/lib/gemv_q8_0.wgsl?raw';
import q4Lib from '../../shaders/lib/gemv_q4_0.wgsl?raw';
import treeLib from '../../shaders/lib/gemv_reduce_tree.wgsl?raw';
import subgroupLib from '../../shaders/lib/gemv_reduce_subgroup.wgsl?raw';

export type LinearGemvVariant = 'blocked' | 'gemv' | 'gemv_subgroup';

/** Most tokens the GEMV kernel takes (its partial sums per lane: 8 rows × TOKENS). */
export const GEMV_MAX_TOKENS = 8;
/** Most invocations per workgroup (LANES in linear_gemv.wgsl). */
const GEMV_MAX_LANES = 64;
/** Output rows per workgroup (ROWS in linear_gemv.wgsl). */
const GEMV_ROWS = 8;

/** The types with a GEMV decoding (bf16 runs the f16 one with BF16 set). */
type DecodedType = Exclude<WeightType, 'f32' | 'bf16'>;
const DECODE: Record<DecodedType, string> = { f16: f16Lib, q8_0: q8Lib, q4_0: q4Lib };
const REDUCE = { gemv: treeLib, gemv_subgroup: subgroupLib };

/** The kernel per (variant, weight type), built once. */
const SOURCES = Object.fromEntries(
  (['gemv', 'gemv_subgroup'] as const).map((v) => [
    v,
    Object.fromEntries(
      (Object.keys(DECODE) as DecodedType[]).map((t) => {
        const code = withLib(gemvSrc, linearLib, swigluLib, DECODE[t], REDUCE[v]);
        return [t, v === 'gemv_subgroup' ? enableSubgroups(code) : code];
      }),
    ),
  ]),
) as Record<'gemv' | 'gemv_subgroup', Record<DecodedType, string>>;

/** The candidates on this adapter, the reference first. */
export function gemvVariants(ctx: GpuContext): LinearGemvVariant[] {
  return ctx.has('subgroups') ? ['blocked', 'gemv', 'gemv_subgroup'] : ['blocked', 'gemv'];
}

/** The variant this context prefers: forced or measured, else 'blocked' on CPU adapters, the fastest kind else. */
export function gemvVariant(ctx: GpuContext): LinearGemvVariant {
  const fallback = ctx.info.isSoftware ? 'blocked' : ctx.has('subgroups') ? 'gemv_subgroup' : 'gemv';
  return ctx.kernels.variant<LinearGemvVariant>('linear_gemv', fallback);
}

/**
 * The GEMV kernel for y = x·Wᵀ with T tokens, or undefined when the blocked kernels should run: more than
 * 8 tokens, f32 weights (a matmul), f16 rows not a multiple of 8, more rows than the grid holds, or
 * 'blocked' chosen. A chosen variant
 * the adapter cannot run ('gemv_subgroup' without subgroups) gives way to 'gemv': a speed preference, never
 * a correctness one.
 */
export function gemvKernel(
  ctx: GpuContext,
  w: Weight,
  T: number,
): { code: string; constants: Record<string, number | boolean>; groups: [number, number] } | undefined {
  if (T > GEMV_MAX_TOKENS || w.type === 'f32' || w.cols % 8 !== 0) return undefined;
  // A workgroup per 8 rows: past the grid's limit (over 524,280 rows at 65,535) the blocked kernels' 64 do.
  if (Math.ceil(w.rows / GEMV_ROWS) > ctx.device.limits.maxComputeWorkgroupsPerDimension) return undefined;
  let variant = gemvVariant(ctx);
  if (variant === 'blocked') return undefined;
  if (variant === 'gemv_subgroup' && !ctx.has('subgroups')) variant = 'gemv';
  const [type, bf16] = w.type === 'bf16' ? (['f16', true] as const) : ([w.type, false] as const);
  const constants = { TOKENS: T, LANES: gemvLanes(w.cols), ...(bf16 ? { BF16: true } : {}) };
  return { code: SOURCES[variant][type], constants, groups: [Math.ceil(w.rows / GEMV_ROWS), 1] };
}

/** Invocations per workgroup: 64, or the smallest power of two covering K's units of 8 weights. */
export function gemvLanes(K: number): number {
  return Math.min(GEMV_MAX_LANES, 2 ** Math.ceil(Math.log2(Math.max(1, K / 8))));
}

/** `enable subgroups;` after the kernel's opening comment (directives precede declarations; the name stays first). */
function enableSubgroups(code: string): string {
  const lines = code.split('\n');
  const body = lines.findIndex((l) => !l.startsWith('//'));
  return [...lines.slice(0, body), 'enable subgroups;', ...lines.slice(body)].join('\n');
}

/**
 * The tuner's workload: one token through a Q4_0 576 → 1536 projection (SmolLM2-135M's up projection), 30
 * times (a decode step has that many per kind of projection) so the kernels' time, not the read-back around
 * them, is what is compared; once through 576 → 256 on CPU adapters, where one GEMV dispatch alone takes
 * tens of milliseconds.
 */
export const linearGemvProbe: KernelProbe = {
  family: 'linear_gemv',
  variants: gemvVariants,
  sources: [blockedQ4Src, gemvSrc, linearLib, q4Lib, treeLib, subgroupLib],
  setup(ctx) {
    const [N, K] = [ctx.info.isSoftware ? 256 : 1536, 576];
    const w = uploadWeight(ctx, 'q4_0', N, K, quantize('q4_0', probeValues(N * K, 2)));
    const x = ctx.upload(probeValues(K, 1), [1, K]);
    const y = ctx.tensor([1, N]);
    const repeats = ctx.info.isSoftware ? 1 : 30;
    return {
      run: () => {
        for (let i = 1; i < repeats; i++) linear(ctx, x, w, 1, {}, y);
        return linear(ctx, x, w, 1, {}, y);
      },
      release: () => [x, y, w.data].forEach((t) => t.release()),
    };
  },
};
