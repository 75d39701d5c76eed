// Token embedding gather: rows of a frozen table (any stored weight type) for a batch of token ids.
// Forward only: the table is a frozen base weight, so no gradient flows into it.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { grid1d } from './grid';
import type { Weight, WeightType } from './weight';
import embeddingSrc from '../../shaders/embedding.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

/** Invocations per workgroup (the shader's `WG`); each writes 4 consecutive outputs of a row. */
const PARAMS = uniformStruct(embeddingSrc, 'Params');
const WG = 64;

/** The shader's TYPE override for each stored format. */
const TYPE_CODE: Record<WeightType, number> = { f32: 0, f16: 1, q8_0: 2, q4_0: 3, bf16: 4 };

/**
 * Records out[t, :] = table[ids[t], :] for t < T: a new [T, dim] f32 tensor (dim = table.cols), decoded
 * exactly from the table's type. Ids ≥ table.rows (vocabulary) give rows of zeros; nothing out of bounds
 * is read. Ids live on the GPU, so they are not checked on the host.
 */
export function embedding(ctx: GpuContext, table: Weight, ids: Tensor<'u32'>, T: number): Tensor<'f32'> {
  if (ids.numel < T) throw new Error(`embedding: ${T} tokens but only ${ids.numel} ids`);
  const dim = table.cols;
  const out = ctx.tensor([T, dim]);
  if (T * dim === 0) return out;
  const pipeline = ctx.pipeline(embeddingSrc, { TYPE: TYPE_CODE[table.type] });
  const params = PARAMS.pack({ T, dim, vocab: table.rows });
  ctx.dispatch(pipeline, [table.data, ids, out, ctx.uniform(params)], grid1d(ctx, T * Math.ceil(dim / 4), WG));
  return out;
}
