// The LM head and the masked cross-entropy, computed a chunk of rows at a time so the [T, vocab] logits never
// exist whole: at batch 16 × seq 256 with SmolLM2's 49152-token vocabulary they would be 805 MB, more than the
// rest of a training step together. Each chunk's logits (≤ HEAD_CHUNK_BYTES) become its per-row losses and, in
// training, its dlogits in place, then its rows of dn = dlogits·W_head (the gradient into the final norm's
// output); one buffer serves every chunk. Rows are independent in every kernel on the way (the head's
// products sum over the hidden or vocabulary axis of one row, the loss over one row's logits), and the total
// is one reduction over all rows' losses, so the result is the same as one chunk's, and as deterministic.

import type { GpuContext } from '../gpu/context';
import { Tensor } from '../gpu/tensor';
import { crossEntropyRows, crossEntropyTotal } from '../ops/crossEntropy';
import { linear, linearBackwardInput } from '../ops/linear';
import type { Weight } from '../ops/weight';

/**
 * Logits bytes per chunk by default: small next to a step's activations, large enough to keep GPUs busy, and
 * few chunks (each costs 3 dispatches per pass: 64 MiB rather than 32 takes a MeTA-LoRA iteration on SmolLM2
 * at seq 256 from 288 head dispatches to 117, for ~25 MiB more peak), within browsers' 128 MiB binding limit.
 */
export const HEAD_CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Chunks start at multiples of this many rows: views must start at 256-byte offsets, and 64 rows of
 * 4-byte targets or losses (or of any f32 activation row) are a multiple of 256 bytes.
 */
export const HEAD_CHUNK_ALIGN = 64;

export interface HeadLossOptions {
  /** Rows per chunk, a positive multiple of HEAD_CHUNK_ALIGN; default: as many as fit in HEAD_CHUNK_BYTES. */
  chunkRows?: number;
}

export interface HeadDims {
  /** Rows (tokens of the batch). */
  T: number;
  /** Hidden size: columns of the head. */
  D: number;
  /** Vocabulary size: rows of the head. */
  V: number;
}

/** Rows per chunk: the caller's, checked, or the most whole alignment units whose logits fit the budget. */
export function headChunkRows(dims: HeadDims, opts: HeadLossOptions = {}): number {
  const rows = opts.chunkRows;
  if (rows !== undefined) {
    if (!Number.isInteger(rows) || rows < HEAD_CHUNK_ALIGN || rows % HEAD_CHUNK_ALIGN) {
      throw new Error(`headLoss: chunkRows ${rows} must be a positive multiple of ${HEAD_CHUNK_ALIGN}`);
    }
    return rows;
  }
  const fit = Math.floor(HEAD_CHUNK_BYTES / (4 * Math.max(1, dims.V)) / HEAD_CHUNK_ALIGN) * HEAD_CHUNK_ALIGN;
  return Math.max(HEAD_CHUNK_ALIGN, fit);
}

/**
 * Training: the loss of head(n) against targets and its gradient dn [T, D] (written). The rows are
 * G = gradScales.length equal contiguous groups (MeTA-LoRA's tasks in one batch; one group otherwise), each
 * group's dlogits scaled by its own scale (1 / its scored tokens for its mean). Returns {Σ loss, scored tokens}
 * per group [2G] and dn; the caller releases both.
 */
export function headLossBackward(
  ctx: GpuContext,
  head: Weight,
  n: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  dims: HeadDims,
  gradScales: readonly number[],
  opts: HeadLossOptions = {},
): { total: Tensor<'f32'>; dn: Tensor<'f32'> } {
  const dn = ctx.tensor([dims.T, dims.D]);
  const losses = ctx.tensor([dims.T]);
  forEachChunk(ctx, dims, opts, (at, rows, logits) => {
    linear(ctx, rowsOf(n, at, rows, dims.D), head, rows, {}, logits);
    crossEntropyRows(
      ctx,
      logits,
      rowsOf(targets, at, rows, 1),
      { T: rows, V: dims.V, gradScale: 0, groupGradScales: gradScales },
      { firstRow: at, batchRows: dims.T, out: rowsOf(losses, at, rows, 1) },
    );
    linearBackwardInput(ctx, logits, head, rows, {}, rowsOf(dn, at, rows, dims.D));
  });
  const total = crossEntropyTotal(ctx, losses, targets, { ...dims, groups: gradScales.length });
  losses.release();
  return { total, dn };
}

/**
 * Evaluation: each row's loss [T] (0 where not scored) and {Σ loss, scored tokens} [2] of head(n) against
 * targets; the caller releases both.
 */
export function headLosses(
  ctx: GpuContext,
  head: Weight,
  n: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  dims: HeadDims,
  opts: HeadLossOptions = {},
): { total: Tensor<'f32'>; losses: Tensor<'f32'> } {
  const losses = ctx.tensor([dims.T]);
  forEachChunk(ctx, dims, opts, (at, rows, logits) => {
    linear(ctx, rowsOf(n, at, rows, dims.D), head, rows, {}, logits);
    crossEntropyRows(
      ctx,
      logits,
      rowsOf(targets, at, rows, 1),
      { T: rows, V: dims.V, gradScale: 0, grad: false },
      { out: rowsOf(losses, at, rows, 1) },
    );
  });
  return { total: crossEntropyTotal(ctx, losses, targets, dims), losses };
}

/** Calls `body` per chunk of rows with a logits view [rows, V] of one buffer that all chunks share. */
function forEachChunk(
  ctx: GpuContext,
  dims: HeadDims,
  opts: HeadLossOptions,
  body: (at: number, rows: number, logits: Tensor<'f32'>) => void,
): void {
  const { T, V } = dims;
  if (T === 0) return;
  const chunk = Math.min(headChunkRows(dims, opts), T);
  const logits = ctx.tensor([chunk, V]);
  for (let at = 0; at < T; at += chunk) {
    const rows = Math.min(chunk, T - at);
    body(at, rows, rowsOf(logits, 0, rows, V));
  }
  // Recorded commands keep their buffers: the pool hands this one out only to later-recorded work.
  logits.release();
}

/** A view of rows [at, at + rows) of a row-major tensor with `cols` columns; it owns nothing. */
function rowsOf<D extends Tensor['dtype']>(t: Tensor<D>, at: number, rows: number, cols: number): Tensor<D> {
  const offset = t.offset + at * cols * 4;
  if (offset % 256) throw new Error(`headLoss: row ${at} starts at byte ${offset}, not a multiple of 256`);
  return new Tensor<D>(
    t.buffer,
    cols === 1 ? [rows] : [rows, cols],
    t.dtype,
    () => {
      throw new Error('headLoss: a row view is not released; release its tensor');
    },
    offset,
  );
}
