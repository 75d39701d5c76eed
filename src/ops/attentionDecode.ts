// attentionDecode: the queries of new tokens against a KV cache (generation with a cache, prefill included).
// The caches are preallocated [rows, KV·hd] tensors, possibly holding several sequences, filled row by row
// (copyRows / scatterRows); each query has a place (first cache row of its sequence, its position) and sees
// that sequence's cached keys 0 … its own position. Forward only: inference never differentiates it.
// Two kernels (family 'attention_decode' in `ctx.kernels`): 'serial', one invocation per (query, head) walking
// its keys (the reference, and the default on CPU adapters), and 'split', flash-decoding (the keys of each
// (query, head) split over workgroups and lanes, partials combined by a second small dispatch; the default
// on GPUs, where 'serial' runs H live lanes for one new token).

import { type GpuContext, alignUp } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { withLib } from '../gpu/wgsl';
import { uniformStruct } from '../gpu/uniforms';
import type { DecodeDims as RefDecodeDims } from './contracts';
import commonSrc from '../../shaders/lib/attention_common.wgsl?raw';
import decodeKernel from '../../shaders/attention_decode.wgsl?raw';
import splitKernel from '../../shaders/attention_decode_split.wgsl?raw';
import { MAX_HEAD_DIM } from './attention';
import type { KernelProbe } from './tuning';
import { probeValues } from './probeInputs';

export type DecodeDims = RefDecodeDims;

export type AttentionDecodeVariant = 'serial' | 'split';
export const ATTENTION_DECODE_VARIANTS: readonly AttentionDecodeVariant[] = ['serial', 'split'];

const src = withLib(decodeKernel, commonSrc);
const splitSrc = withLib(splitKernel, commonSrc);
const DECODE_PARAMS = uniformStruct(src, 'DecodeParams');
const SPLIT_PARAMS = uniformStruct(splitSrc, 'SplitParams');
/** Invocations per workgroup (WG in shaders/lib/attention_common.wgsl), one per query row. */
const WG = 32;
/** The split kernel's keys per tile (LANES in attention_decode_split.wgsl). */
const SPLIT_TILE = 64;
/**
 * Workgroups the split kernel aims for: enough (query, head, split) triples to spread a single token's
 * attention over a GPU's cores; a prefill's n·H (query, head) pairs reach it with one split each.
 */
const SPLIT_TARGET_WORKGROUPS = 256;

/** The variant this context runs: forced or measured, else 'serial' on CPU adapters and 'split' on GPUs. */
export function attentionDecodeVariant(ctx: GpuContext): AttentionDecodeVariant {
  return ctx.kernels.variant<AttentionDecodeVariant>('attention_decode', ctx.info.isSoftware ? 'serial' : 'split');
}

/**
 * Records o = softmax(scale·q·Kᵀ)·V per head for q [n, H·hd] against the caches kCache, vCache [rows, KV·hd].
 * `places` [n, 2] holds each query's (first cache row of its sequence, position); the rows start … start + pos
 * must already hold the keys and values (the new tokens' included). The caller checks the places against the
 * cache on the host (they are on the GPU here); `contiguousPlaces` makes them for one sequence. Returns o.
 */
export function attentionDecode(
  ctx: GpuContext,
  q: Tensor<'f32'>,
  kCache: Tensor<'f32'>,
  vCache: Tensor<'f32'>,
  places: Tensor<'u32'>,
  dims: DecodeDims,
  out?: Tensor<'f32'>,
): Tensor<'f32'> {
  const { n, H, KV, hd } = dims;
  for (const [name, v] of Object.entries({ n, H, KV, hd })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`attentionDecode: ${name} must be a positive integer, got ${v}`);
  }
  if (places.numel !== 2 * n)
    throw new Error(`attentionDecode: places has ${places.numel} entries, expected 2 per query (${2 * n})`);
  if (H % KV) throw new Error(`attentionDecode: ${H} query heads are not a multiple of ${KV} KV heads`);
  if (hd > MAX_HEAD_DIM) throw new Error(`attentionDecode: head dimension ${hd} exceeds the supported ${MAX_HEAD_DIM}`);
  if (q.numel !== n * H * hd) throw new Error(`attentionDecode: q has ${q.numel} elements, expected ${n * H * hd}`);
  const rows = kCache.numel / (KV * hd);
  if (!Number.isInteger(rows) || vCache.numel !== kCache.numel) {
    throw new Error(
      `attentionDecode: caches of ${kCache.numel} and ${vCache.numel} elements are not [maxTokens, ${KV * hd}]`,
    );
  }
  const o = out ?? ctx.tensor([n, H * hd]);
  if (o.numel !== n * H * hd) throw new Error(`attentionDecode: out has ${o.numel} elements, expected ${n * H * hd}`);
  const scale = dims.scale ?? 1 / Math.sqrt(hd);
  // 'split' puts the queries on the grid's z axis: past its limit (a prefill of > 65,535 tokens) 'serial' runs.
  if (attentionDecodeVariant(ctx) === 'split' && n <= ctx.device.limits.maxComputeWorkgroupsPerDimension) {
    split(ctx, [q, kCache, vCache, places], o, { ...dims, scale }, rows);
    return o;
  }
  ctx.dispatch(
    ctx.pipeline(src, { HD: hd }),
    [vec4(q), vec4(kCache), vec4(vCache), o, places, ctx.uniform(DECODE_PARAMS.pack({ n, H, KV, scale }))],
    [Math.ceil(n / WG), H, 1],
  );
  return o;
}

/**
 * Flash-decoding: splits × H × n workgroups of partials, then one combine workgroup per (query, head); with
 * a single split one dispatch that writes o. The split count comes from the cache's capacity (`rows`): the
 * positions are on the GPU, and splits past a query's keys are empty.
 */
function split(
  ctx: GpuContext,
  [q, kCache, vCache, places]: Tensor[],
  o: Tensor<'f32'>,
  dims: Required<DecodeDims>,
  rows: number,
): void {
  const { n, H, KV, hd, scale } = dims;
  const splits = Math.max(1, Math.min(Math.ceil(SPLIT_TARGET_WORKGROUPS / (n * H)), Math.ceil(rows / SPLIT_TILE)));
  const partStride = 1 + Math.ceil(hd / 4);
  // One split writes o directly; the partials binding then gets a 16-byte stand-in it never touches.
  const part = ctx.tensor([splits === 1 ? 4 : n * H * splits * partStride * 4]);
  const uniform = ctx.uniform(SPLIT_PARAMS.pack({ n, H, KV, scale, splits }));
  const inputs = [places, vec4(q as Tensor<'f32'>), vec4(kCache as Tensor<'f32'>), vec4(vCache as Tensor<'f32'>)];
  ctx.dispatch(ctx.pipeline(splitSrc, { HD: hd, DIRECT: splits === 1 }), [part, o, uniform, ...inputs], [splits, H, n]);
  if (splits > 1) ctx.dispatch(ctx.pipeline(splitSrc, { HD: hd }, 'combine'), [part, o, uniform], [H, n]);
  part.release();
}

/** Places (start row 0, positions pos0 … pos0+n−1) of n consecutive queries of a single cached sequence. */
export function contiguousPlaces(n: number, pos0: number): Uint32Array {
  const places = new Uint32Array(2 * n);
  for (let i = 0; i < n; i++) places[2 * i + 1] = pos0 + i;
  return places;
}

/** Binds a tensor as array<vec4<f32>>, rounded up to 16 bytes so a trailing partial vec4 stays addressable. */
function vec4(t: Tensor<'f32'>): GPUBufferBinding {
  const size = alignUp(t.byteLength, 16);
  if (size > t.buffer.size)
    throw new Error(`attentionDecode: a ${t.byteLength}-byte tensor's buffer cannot be bound as vec4s`);
  return { buffer: t.buffer, size };
}

/**
 * The tuner's workload: one decode step's attention — one new token against a 256-token cache with
 * SmolLM2-135M's heads (H 9, KV 3, hd 64), once per layer (30) so each dispatch's cost, the combine's
 * included, counts as it will, not the read-back around one.
 */
const PROBE_LAYERS = 30;

export const attentionDecodeProbe: KernelProbe = {
  family: 'attention_decode',
  variants: () => ATTENTION_DECODE_VARIANTS,
  sources: [decodeKernel, splitKernel, commonSrc],
  setup(ctx) {
    const [H, KV, hd] = [9, 3, 64];
    // 256 rows on every adapter: a generation's cache. With ≤ 64 rows (one split) 'split' runs a different,
    // single-pass path, which is not what decoding a longer text measures.
    const rows = 256;
    const dims = { n: 1, H, KV, hd };
    const q = ctx.upload(probeValues(H * hd, 1), [1, H * hd]);
    const k = ctx.upload(probeValues(rows * KV * hd, 2), [rows, KV * hd]);
    const v = ctx.upload(probeValues(rows * KV * hd, 3), [rows, KV * hd]);
    const places = ctx.upload(contiguousPlaces(1, rows - 1), [2], 'u32');
    const o = ctx.tensor([1, H * hd]);
    return {
      run: () => {
        for (let layer = 1; layer < PROBE_LAYERS; layer++) attentionDecode(ctx, q, k, v, places, dims, o);
        return attentionDecode(ctx, q, k, v, places, dims, o);
      },
      release: () => [q, k, v, places, o].forEach((t) => t.release()),
    };
  },
};
