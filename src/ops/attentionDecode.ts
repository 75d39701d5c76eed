// attentionDecode: the queries of new tokens against a KV cache (generation with a cache, prefill included).
// The caches are preallocated [rows, KV·hd] tensors, possibly holding several sequences, filled row by row
// (copyRows / scatterRows); each query has a place (first cache row of its sequence, its position) and sees
// that sequence's cached keys 0 … its own position. Forward only: inference never differentiates it.

import { type GpuContext, alignUp } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { withLib } from '../gpu/wgsl';
import type { DecodeDims as RefDecodeDims } from './contracts';
import commonSrc from '../../shaders/lib/attention_common.wgsl?raw';
import decodeKernel from '../../shaders/attention_decode.wgsl?raw';
import { MAX_HEAD_DIM } from './attention';

export type DecodeDims = RefDecodeDims;

const src = withLib(decodeKernel, commonSrc);
/** Invocations per workgroup (WG in shaders/lib/attention_common.wgsl), one per query row. */
const WG = 32;

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
  const params = new ArrayBuffer(16);
  new Uint32Array(params).set([n, H, KV]);
  new Float32Array(params)[3] = dims.scale ?? 1 / Math.sqrt(hd);
  ctx.dispatch(
    ctx.pipeline(src, { HD: hd }),
    [vec4(q), vec4(kCache), vec4(vCache), o, places, ctx.uniform(new Uint8Array(params))],
    [Math.ceil(n / WG), H, 1],
  );
  return o;
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
