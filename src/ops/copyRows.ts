// copyRows: a block of rows from one [*, width] f32 tensor into another at any row offsets, recorded in
// stream order with the dispatches around it (KV-cache appends, picking the last position's activations).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import copySrc from '../../shaders/copy_rows.wgsl?raw';
import { grid1d } from './grid';

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
  if ((srcRow + rows) * width > src.numel) throw new Error(`copyRows: rows ${srcRow}..${srcRow + rows - 1} are past src's end`);
  if ((dstRow + rows) * width > dst.numel) throw new Error(`copyRows: rows ${dstRow}..${dstRow + rows - 1} are past dst's end`);
  if (rows * width === 0) return dst;
  const params = new Uint32Array([rows, width, srcRow, dstRow]);
  ctx.dispatch(ctx.pipeline(copySrc), [src, dst, ctx.uniform(params)], grid1d(ctx, rows * width, WG));
  return dst;
}
