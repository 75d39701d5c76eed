// attention: causal self-attention with grouped-query heads and a per-sequence padding mask, forward and backward.
// Flash-style: the forward keeps only the row log-sum-exp, the backward recomputes probabilities from it.
// Every output element has exactly one writer (no float atomics): the backward is a statistics pass
// (lse, D = rowsum(dO ⊙ O)), then a pass owning dQ rows and a pass owning dK/dV rows.
// Two variants (family 'attention' in ctx.kernels, measured by `attentionProbe`): 'blocked' (2 rows per
// invocation, no workgroup memory: CPU adapters) and 'flash' (FlashAttention-2 tiles in workgroup memory:
// GPUs). Both take every call; 'flash' falls back to 'blocked' where its tiles would not fit the adapter.

import type { AttentionDims as RefAttentionDims } from './contracts';
import { type GpuContext, alignUp } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { withLib } from '../gpu/wgsl';
import { uniformStruct } from '../gpu/uniforms';
import type { KernelProbe } from './tuning';
import { probeValues } from './probeInputs';
import { type FlashKernel, type FlashTiles, flashConstants, flashSources, flashTiles } from './attentionFlash';
import commonSrc from '../../shaders/lib/attention_common.wgsl?raw';
import fwdKernel from '../../shaders/attention_fwd.wgsl?raw';
import statsKernel from '../../shaders/attention_bwd_stats.wgsl?raw';
import dqKernel from '../../shaders/attention_bwd_dq.wgsl?raw';
import dkdvKernel from '../../shaders/attention_bwd_dkdv.wgsl?raw';

export type AttentionDims = RefAttentionDims;

export type AttentionVariant = 'blocked' | 'flash';
export const ATTENTION_VARIANTS: readonly AttentionVariant[] = ['blocked', 'flash'];

export interface AttentionOptions {
  /** Runs this variant instead of the adapter's choice (it still falls back where it cannot run). */
  variant?: AttentionVariant;
}

const fwdSrc = withLib(fwdKernel, commonSrc);
const statsSrc = withLib(statsKernel, commonSrc);
const dqSrc = withLib(dqKernel, commonSrc);
const dkdvSrc = withLib(dkdvKernel, commonSrc);

/** Invocations per workgroup along positions, as in the blocked shaders. */
const WG = 32;
/** Positions (query rows, or key rows for dK/dV) per invocation: register blocking, as ROWS in the shaders. */
const ROWS = 2;
/** The blocked shaders keep per-row accumulators in private arrays of this many floats (flash tiles go as far). */
export const MAX_HEAD_DIM = 256;

/**
 * Records o = softmax(scale·q·kᵀ + causal/padding mask)·v per head.
 * q [B·S, H·hd], k and v [B·S, KV·hd] row-major (exactly what the projections produce), lengths [B]:
 * positions ≥ lengths[b] are padding. Returns o [B·S, H·hd] (0 on padding rows) and the row log-sum-exp
 * lse [B, H, S] (0 on padding rows) that attentionBackward needs.
 */
export function attention(
  ctx: GpuContext,
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  lengths: Tensor<'u32'>,
  dims: AttentionDims,
  opts: AttentionOptions = {},
): { o: Tensor<'f32'>; lse: Tensor<'f32'> } {
  check(dims, { q, k, v, lengths });
  const { B, S, H, hd } = dims;
  const o = ctx.tensor([B * S, H * hd]);
  const lse = ctx.tensor([B, H, S]);
  const [pipeline, groups] = kernel(ctx, 'fwd', dims, flashPlan(ctx, hd, opts));
  ctx.dispatch(pipeline, [vec4(q), vec4(k), vec4(v), lengths, o, lse, params(ctx, dims)], groups);
  return { o, lse };
}

/**
 * Records the gradients of attention for the output gradient dO [B·S, H·hd], given the forward's inputs,
 * its output o and lse. Returns dq [B·S, H·hd] and dk, dv [B·S, KV·hd], written (not accumulated),
 * 0 on padding rows.
 */
export function attentionBackward(
  ctx: GpuContext,
  q: Tensor<'f32'>,
  k: Tensor<'f32'>,
  v: Tensor<'f32'>,
  o: Tensor<'f32'>,
  lse: Tensor<'f32'>,
  dO: Tensor<'f32'>,
  lengths: Tensor<'u32'>,
  dims: AttentionDims,
  opts: AttentionOptions = {},
): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  check(dims, { q, k, v, lengths, o, dO, lse });
  const { B, S, H, KV, hd } = dims;
  const stats = ctx.tensor([B, H, S, 2]); // (lse, D) per query row
  const dq = ctx.tensor([B * S, H * hd]);
  const dk = ctx.tensor([B * S, KV * hd]);
  const dv = ctx.tensor([B * S, KV * hd]);
  ctx.dispatch(ctx.pipeline(statsSrc, { HD: hd }), [o, dO, lse, lengths, stats, params(ctx, dims)], grid(dims, H));
  const inputs = [vec4(q), vec4(k), vec4(v), vec4(dO), stats, lengths];
  const plan = flashPlan(ctx, hd, opts);
  const [dqPipeline, dqGroups] = kernel(ctx, 'dq', dims, plan);
  ctx.dispatch(dqPipeline, [...inputs, dq, params(ctx, dims)], dqGroups);
  const [dkdvPipeline, dkdvGroups] = kernel(ctx, 'dkdv', dims, plan);
  ctx.dispatch(dkdvPipeline, [...inputs, dk, dv, params(ctx, dims)], dkdvGroups);
  stats.release(); // the pool hands it out only to later-recorded work
  return { dq, dk, dv };
}

/** The variant this call runs: the option, else the adapter's choice, else 'flash' on GPUs only. */
export function attentionVariant(ctx: GpuContext, opts: AttentionOptions = {}): AttentionVariant {
  return opts.variant ?? ctx.kernels.variant<AttentionVariant>('attention', ctx.info.isSoftware ? 'blocked' : 'flash');
}

/**
 * The flash kernels' tiles when the flash variant runs this call; undefined for the blocked kernels, chosen
 * or fallen back to (the adapter's workgroup memory cannot hold a flash tile for this head dimension).
 */
function flashPlan(ctx: GpuContext, hd: number, opts: AttentionOptions): FlashPlan | undefined {
  if (attentionVariant(ctx, opts) !== 'flash') return undefined;
  const maxBytes = ctx.info.limits.maxComputeWorkgroupStorageSize;
  const [fwd, dq, dkdv] = FLASH_KERNELS.map((name) => flashTiles(name, hd, maxBytes));
  return fwd && dq && dkdv ? { fwd, dq, dkdv } : undefined;
}

type FlashPlan = Record<FlashKernel, FlashTiles>;
const FLASH_KERNELS = ['fwd', 'dq', 'dkdv'] as const;
const BLOCKED_SOURCES: Record<FlashKernel, string> = { fwd: fwdSrc, dq: dqSrc, dkdv: dkdvSrc };

/** One kernel's pipeline and workgroup grid: the flash one with its tiles when planned, else the blocked one. */
function kernel(
  ctx: GpuContext,
  name: FlashKernel,
  dims: AttentionDims,
  plan: FlashPlan | undefined,
): [GPUComputePipeline, [number, number, number]] {
  const heads = name === 'dkdv' ? dims.KV : dims.H; // dK/dV workgroups own key rows of a KV head
  if (!plan) return [ctx.pipeline(BLOCKED_SOURCES[name], { HD: dims.hd }), grid(dims, heads, ROWS)];
  const t = plan[name];
  return [ctx.pipeline(flashSources[name], flashConstants(dims.hd, t)), [Math.ceil(dims.S / t.own), heads, dims.B]];
}

/** Workgroups: positions along x (`rows` per invocation), heads along y, sequences along z. */
function grid(dims: AttentionDims, heads: number, rows = 1): [number, number, number] {
  return [Math.ceil(dims.S / (WG * rows)), heads, dims.B];
}

/**
 * Binds a tensor the shaders read as array<vec4<f32>>, its size rounded up to 16 bytes so that a trailing
 * partial vec4 (numel not a multiple of 4) stays addressable. Pool buffers are multiples of 16 bytes.
 */
function vec4(t: Tensor<'f32'>): GPUBufferBinding {
  const size = alignUp(t.byteLength, 16);
  if (t.offset + size > t.buffer.size)
    throw new Error(`attention: a ${t.byteLength}-byte tensor's buffer cannot be bound as vec4s`);
  return { buffer: t.buffer, offset: t.offset, size };
}

/** The Params struct every attention kernel shares (shaders/lib/attention_common.wgsl). */
const PARAMS = uniformStruct(commonSrc, 'Params');

function params(ctx: GpuContext, dims: AttentionDims): GPUBufferBinding {
  const { B, S, H, KV } = dims;
  return ctx.uniform(PARAMS.pack({ B, S, H, KV, scale: dims.scale ?? 1 / Math.sqrt(dims.hd) }));
}

function check(dims: AttentionDims, t: Record<string, Tensor>): void {
  const { B, S, H, KV, hd } = dims;
  for (const [name, n] of Object.entries({ B, S, H, KV, hd })) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`attention: ${name} must be a positive integer, got ${n}`);
  }
  if (H % KV !== 0) throw new Error(`attention: ${H} query heads are not a multiple of ${KV} KV heads`);
  if (hd > MAX_HEAD_DIM) throw new Error(`attention: head dimension ${hd} exceeds the supported ${MAX_HEAD_DIM}`);
  const need: Record<string, number> = {
    q: B * S * H * hd,
    k: B * S * KV * hd,
    v: B * S * KV * hd,
    lengths: B,
    o: B * S * H * hd,
    dO: B * S * H * hd,
    lse: B * H * S,
  };
  for (const [name, tensor] of Object.entries(t)) {
    if (tensor.numel !== need[name]) {
      throw new Error(`attention: ${name} has ${tensor.numel} elements, expected ${need[name]}`);
    }
  }
  if (t.lengths.dtype !== 'u32') throw new Error('attention: lengths must be a u32 tensor');
}

/**
 * The tuner's workload: one layer's attention in training (forward, then backward), SmolLM2-135M's heads
 * (9 query heads on 3 KV heads of 64) over 4 sequences of 256 tokens, the last one padded; 1 sequence of 32 on
 * CPU adapters (the ranking holds there, the time does not). Its output is o, dq, dk and dv side by side.
 */
export const attentionProbe: KernelProbe = {
  family: 'attention',
  variants: () => ATTENTION_VARIANTS,
  sources: [fwdSrc, statsSrc, dqSrc, dkdvSrc, ...Object.values(flashSources)],
  setup(ctx) {
    const soft = ctx.info.isSoftware;
    const dims: AttentionDims = { B: soft ? 1 : 4, S: soft ? 32 : 256, H: 9, KV: 3, hd: 64 };
    const { B, S, H, KV, hd } = dims;
    const [qn, kn] = [B * S * H * hd, B * S * KV * hd];
    const q = ctx.upload(probeValues(qn, 3), [B * S, H * hd]);
    const k = ctx.upload(probeValues(kn, 4), [B * S, KV * hd]);
    const v = ctx.upload(probeValues(kn, 5), [B * S, KV * hd]);
    const dO = ctx.upload(probeValues(qn, 6), [B * S, H * hd]);
    const lengths = ctx.upload(
      Uint32Array.from({ length: B }, (_, b) => (b === B - 1 ? S - 7 : S)),
      [B],
      'u32',
    );
    const out = ctx.tensor([2 * qn + 2 * kn]);
    const run = () => {
      const { o, lse } = attention(ctx, q, k, v, lengths, dims);
      const g = attentionBackward(ctx, q, k, v, o, lse, dO, lengths, dims);
      let at = 0;
      for (const t of [o, g.dq, g.dk, g.dv]) {
        ctx.copy(t, out, t.byteLength, 0, at);
        at += t.byteLength;
      }
      [o, lse, g.dq, g.dk, g.dv].forEach((t) => t.release());
      return out;
    };
    return { run, release: () => [q, k, v, dO, lengths, out].forEach((t) => t.release()) };
  },
};
