// attention: causal self-attention with grouped-query heads and a per-sequence padding mask, forward and backward.
// Flash-style: the forward keeps only the row log-sum-exp, the backward recomputes probabilities from it.
// Every output element has exactly one writer (no float atomics): the backward is a statistics pass
// (lse, D = rowsum(dO ⊙ O)), then a pass owning dQ rows and a pass owning dK/dV rows.

import type { AttentionDims as RefAttentionDims } from './contracts';
import { type GpuContext, alignUp } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { withLib } from '../gpu/wgsl';
import commonSrc from '../../shaders/lib/attention_common.wgsl?raw';
import fwdKernel from '../../shaders/attention_fwd.wgsl?raw';
import statsKernel from '../../shaders/attention_bwd_stats.wgsl?raw';
import dqKernel from '../../shaders/attention_bwd_dq.wgsl?raw';
import dkdvKernel from '../../shaders/attention_bwd_dkdv.wgsl?raw';

export type AttentionDims = RefAttentionDims;

const fwdSrc = withLib(fwdKernel, commonSrc);
const statsSrc = withLib(statsKernel, commonSrc);
const dqSrc = withLib(dqKernel, commonSrc);
const dkdvSrc = withLib(dkdvKernel, commonSrc);

/** Invocations per workgroup along positions, as in every attention shader. */
const WG = 32;
/** Positions (query rows, or key rows for dK/dV) per invocation: register blocking, as ROWS in the shaders. */
const ROWS = 2;
/** The shaders keep per-row accumulators in private arrays of this many floats. */
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
): { o: Tensor<'f32'>; lse: Tensor<'f32'> } {
  check(dims, { q, k, v, lengths });
  const { B, S, H, hd } = dims;
  const o = ctx.tensor([B * S, H * hd]);
  const lse = ctx.tensor([B, H, S]);
  const pipeline = ctx.pipeline(fwdSrc, { HD: hd });
  ctx.dispatch(pipeline, [vec4(q), vec4(k), vec4(v), lengths, o, lse, params(ctx, dims)], grid(dims, H, ROWS));
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
): { dq: Tensor<'f32'>; dk: Tensor<'f32'>; dv: Tensor<'f32'> } {
  check(dims, { q, k, v, lengths, o, dO, lse });
  const { B, S, H, KV, hd } = dims;
  const stats = ctx.tensor([B, H, S, 2]); // (lse, D) per query row
  const dq = ctx.tensor([B * S, H * hd]);
  const dk = ctx.tensor([B * S, KV * hd]);
  const dv = ctx.tensor([B * S, KV * hd]);
  const constants = { HD: hd };
  ctx.dispatch(ctx.pipeline(statsSrc, constants), [o, dO, lse, lengths, stats, params(ctx, dims)], grid(dims, H));
  const inputs = [vec4(q), vec4(k), vec4(v), vec4(dO), stats, lengths];
  ctx.dispatch(ctx.pipeline(dqSrc, constants), [...inputs, dq, params(ctx, dims)], grid(dims, H, ROWS));
  ctx.dispatch(ctx.pipeline(dkdvSrc, constants), [...inputs, dk, dv, params(ctx, dims)], grid(dims, KV, ROWS));
  stats.release(); // the pool hands it out only to later-recorded work
  return { dq, dk, dv };
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

/** The shaders' Params struct: B, S, H, KV as u32, then scale as f32, padded to 32 bytes. */
function params(ctx: GpuContext, dims: AttentionDims): GPUBufferBinding {
  const bytes = new ArrayBuffer(32);
  new Uint32Array(bytes).set([dims.B, dims.S, dims.H, dims.KV]);
  new Float32Array(bytes)[4] = dims.scale ?? 1 / Math.sqrt(dims.hd);
  return ctx.uniform(new Uint8Array(bytes));
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
