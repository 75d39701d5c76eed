// copyRows: a block of rows from one [*, width] f32 tensor into another at any row offsets, recorded in
// stream order with the dispatches around it (KV-cache appends, picking the last position's activations);
// scatterRows: each row to its own place (KV-cache appends of several sequences at once).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import copySrc from '../../shaders/copy_rows.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const PARAMS = uniformStruct(copySrc, 'Params');
const WG = 64;

export interface CopyRowsOptions {
  rows: number;
  width: number;
  srcRow?: number;
  dstRow?: number;
}

/** Records dst[dstRow + r, :] = src[srcRow + r, :] for r < rows; returns dst. */
export function copyRows(ctx: GpuContext, src: Tensor<'f32'>, dst: Tensor<'f32'>, o: CopyRowsOptions): Tensor<'f32'> {
  const { rows, width, srcRow = 0, dstRow = 0 } = o;
  for (const [name, v] of Object.entries({ rows, width, srcRow, dstRow })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`copyRows: ${name} must be a non-negative integer, got ${v}`);
  }
  if ((srcRow + rows) * width > src.numel)
    throw new Error(`copyRows: rows ${srcRow}..${srcRow + rows - 1} are past src's end`);
  if ((dstRow + rows) * width > dst.numel)
    throw new Error(`copyRows: rows ${dstRow}..${dstRow + rows - 1} are past dst's end`);
  if (rows * width === 0) return dst;
  const params = PARAMS.pack({ rows, width, src_row: srcRow, dst_row: dstRow });
  ctx.dispatch(ctx.pipeline(copySrc), [src, dst, ctx.uniform(params)], grid1d(ctx, rows * width, WG));
  return dst;
}

/**
 * Records dst[places[2r] + places[2r+1], :] = src[r, :] for r < rows (the places attentionDecode reads: a
 * sequence's first cache row and the row's position). The places are on the GPU: the caller checks them
 * against dst on the host. Returns dst.
 */
export function scatterRows(
  ctx: GpuContext,
  src: Tensor<'f32'>,
  dst: Tensor<'f32'>,
  places: Tensor<'u32'>,
  o: { rows: number; width: number },
): Tensor<'f32'> {
  return placedCopy(ctx, 'scatter', src, dst, places, o);
}

/** Records dst[r, :] = src[places[2r] + places[2r+1], :] for r < rows; places checked by the caller. Returns dst. */
export function gatherRows(
  ctx: GpuContext,
  src: Tensor<'f32'>,
  dst: Tensor<'f32'>,
  places: Tensor<'u32'>,
  o: { rows: number; width: number },
): Tensor<'f32'> {
  return placedCopy(ctx, 'gather', src, dst, places, o);
}

function placedCopy(
  ctx: GpuContext,
  kind: 'scatter' | 'gather',
  src: Tensor<'f32'>,
  dst: Tensor<'f32'>,
  places: Tensor<'u32'>,
  o: { rows: number; width: number },
): Tensor<'f32'> {
  const { rows, width } = o;
  for (const [name, v] of Object.entries({ rows, width })) {
    if (!Number.isInteger(v) || v < 0) throw new Error(`${kind}Rows: ${name} must be a non-negative integer, got ${v}`);
  }
  const packed = kind === 'scatter' ? src : dst;
  if (rows * width > packed.numel)
    throw new Error(`${kind}Rows: ${rows} rows of ${width} do not fit ${kind === 'scatter' ? 'src' : 'dst'}`);
  if (places.numel !== 2 * rows)
    throw new Error(`${kind}Rows: places has ${places.numel} entries, expected ${2 * rows}`);
  if (rows * width === 0) return dst;
  const params = PARAMS.pack({ rows, width, src_row: 0, dst_row: 0 }); // rows come from places
  ctx.dispatch(
    ctx.pipeline(copySrc, undefined, kind),
    [src, dst, ctx.uniform(params), places],
    grid1d(ctx, rows * width, WG),
  );
  return dst;
}
