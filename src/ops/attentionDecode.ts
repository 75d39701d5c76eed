// attentionDecode: the queries of new tokens against a KV cache (generation with a cache, prefill included).
// The caches are preallocated [maxTokens, KV·hd] tensors filled row by row (copyRows); queries at positions
// pos0 … pos0+n−1 see cached keys 0 … their own position. Forward only: inference never differentiates it.

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
 * Records o = softmax(scale·q·Kᵀ)·V per head for q [n, H·hd] at positions pos0 … pos0+n−1 against the
 * caches kCache, vCache [maxTokens, KV·hd], whose rows 0 … pos0+n−1 must already hold the keys and values
 * (the new tokens' included). Returns o [n, H·hd].
 */
export function attentionDecode(ctx: GpuContext, q: Tensor<'f32'>, kCache: Tensor<'f32'>, vCache: Tensor<'f32'>,
  dims: DecodeDims, out?: Tensor<'f32'>): Tensor<'f32'> {
  const { n, pos0, H, KV, hd } = dims;
  for (const [name, v] of Object.entries({ n, H, KV, hd })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`attentionDecode: ${name} must be a positive integer, got ${v}`);
  }
  if (!Number.isInteger(pos0) || pos0 < 0) throw new Error(`attentionDecode: pos0 must be ≥ 0, got ${pos0}`);
  if (H % KV) throw new Error(`attentionDecode: ${H} query heads are not a multiple of ${KV} KV heads`);
  if (hd > MAX_HEAD_DIM) throw new Error(`attentionDecode: head dimension ${hd} exceeds the supported ${MAX_HEAD_DIM}`);
  if (q.numel !== n * H * hd) throw new Error(`attentionDecode: q has ${q.numel} elements, expected ${n * H * hd}`);
  const rows = kCache.numel / (KV * hd);
  if (!Number.isInteger(rows) || vCache.numel !== kCache.numel) {
    throw new Error(`attentionDecode: caches of ${kCache.numel} and ${vCache.numel} elements are not [maxTokens, ${KV * hd}]`);
  }
  if (pos0 + n > rows) throw new Error(`attentionDecode: positions up to ${pos0 + n - 1} do not fit a ${rows}-token cache`);
  const o = out ?? ctx.tensor([n, H * hd]);
  if (o.numel !== n * H * hd) throw new Error(`attentionDecode: out has ${o.numel} elements, expected ${n * H * hd}`);
  const params = new ArrayBuffer(32);
  new Uint32Array(params).set([n, pos0, H, KV]);
  new Float32Array(params)[4] = dims.scale ?? 1 / Math.sqrt(hd);
  ctx.dispatch(ctx.pipeline(src, { HD: hd }), [vec4(q), vec4(kCache), vec4(vCache), o, ctx.uniform(new Uint8Array(params))],
    [Math.ceil(n / WG), H, 1]);
  return o;
}

/** Binds a tensor as array<vec4<f32>>, rounded up to 16 bytes so a trailing partial vec4 stays addressable. */
function vec4(t: Tensor<'f32'>): GPUBufferBinding {
  const size = alignUp(t.byteLength, 16);
  if (size > t.buffer.size) throw new Error(`attentionDecode: a ${t.byteLength}-byte tensor's buffer cannot be bound as vec4s`);
  return { buffer: t.buffer, size };
}
