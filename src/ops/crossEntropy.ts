// Softmax cross-entropy over logits [T, V] fused with its backward: per-row losses [T], their GPU sum and
// token count [2], and dlogits = gradScale·(softmax − onehot) written in place over the logits (the largest
// activation of the model: keeping both would double it). Targets −1 (prompt, padding) are ignored: loss 0,
// gradient row 0, not counted; so are targets ≥ V, which the GPU cannot report.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import fusedSrc from '../../shaders/cross_entropy_fused.wgsl?raw';
import reduceSrc from '../../shaders/cross_entropy_reduce.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const FUSED_PARAMS = uniformStruct(fusedSrc, 'Params');
const REDUCE_PARAMS = uniformStruct(reduceSrc, 'Params');

/**
 * Invocations per row in the fused kernel: on CPU adapters every invocation of a workgroup costs a fiber
 * switch at each barrier, so few invocations with long strides; GPUs want wide coalesced rows.
 */
export function crossEntropyWorkgroupSize(ctx: GpuContext): number {
  return ctx.info.isSoftware ? 16 : 256;
}

export interface CrossEntropyOptions {
  T: number;
  V: number;
  /** Multiplies the gradient, e.g. 1/(tokens counted) for a mean loss; the caller knows its targets. */
  gradScale: number;
  /**
   * The batch's rows as G = groupGradScales.length equal contiguous groups (MeTA-LoRA's tasks in one batch),
   * each group's gradient multiplied by its own scale instead of gradScale (its own mean), and `total` holding
   * {Σ loss, count} per group [2G].
   */
  groupGradScales?: readonly number[];
  /** false: losses only, logits left intact (evaluation). Default true: logits become dlogits. */
  grad?: boolean;
  /** Invocations per row (a power of two); defaults to crossEntropyWorkgroupSize(ctx). */
  workgroupSize?: number;
}

export interface CrossEntropyOutputs {
  /** [T] −log softmax(logits)[target] per row, 0 for ignored rows. */
  losses: Tensor<'f32'>;
  /** [2] {Σ losses, number of counted rows}, both f32 ([2G] per group with groupGradScales). */
  total: Tensor<'f32'>;
}

/**
 * Records the loss of logits [T, V] against targets [T] (i32, −1 ignored) and, unless `grad` is false,
 * overwrites the logits with dlogits = gradScale·(softmax − onehot), zero on ignored rows.
 */
export function crossEntropy(
  ctx: GpuContext,
  logits: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  opts: CrossEntropyOptions,
  out: Partial<CrossEntropyOutputs> = {},
): CrossEntropyOutputs {
  const groups = opts.groupGradScales?.length ?? 1;
  if (out.total) checkSize('total', out.total, 2 * groups);
  const losses = crossEntropyRows(ctx, logits, targets, opts, { out: out.losses });
  const total = crossEntropyTotal(ctx, losses, targets, { T: opts.T, V: opts.V, groups }, out.total);
  return { losses, total };
}

/** Where a call of `crossEntropyRows` sits in a larger batch (a chunk of its rows). */
export interface RowChunk {
  /** The batch row that this call's row 0 is (groups are counted in batch rows). Default 0. */
  firstRow?: number;
  /** Rows in the whole batch (to size the groups). Default: this call's T. */
  batchRows?: number;
  out?: Tensor<'f32'>;
}

/**
 * The per-row part of `crossEntropy`: losses [T] (and dlogits over the logits unless `grad` is false), no
 * total. Rows are independent, so a caller may run it on row chunks of a larger batch (views of the logits,
 * losses and targets; `chunk` says where they sit, so each row gets its group's scale) and sum once with
 * `crossEntropyTotal`: the same numbers as one call over every row.
 */
export function crossEntropyRows(
  ctx: GpuContext,
  logits: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  opts: CrossEntropyOptions,
  chunk: RowChunk = {},
): Tensor<'f32'> {
  const { T, V } = opts;
  const { firstRow = 0, batchRows = T } = chunk;
  const scales = opts.groupGradScales ?? [opts.gradScale];
  const G = scales.length;
  if (G < 1 || batchRows % G !== 0)
    throw new Error(`crossEntropy: ${batchRows} rows do not split into ${G} equal groups`);
  if (firstRow < 0 || firstRow + T > batchRows)
    throw new Error(`crossEntropy: rows ${firstRow}..${firstRow + T - 1} are not in a ${batchRows}-row batch`);
  checkSize('logits', logits, T * V);
  checkSize('targets', targets, T);
  const losses = chunk.out ?? ctx.tensor([T]);
  checkSize('losses', losses, T);
  if (T === 0 || V === 0) return losses;
  const wg = opts.workgroupSize ?? crossEntropyWorkgroupSize(ctx);
  if (wg & (wg - 1) || wg > ctx.device.limits.maxComputeInvocationsPerWorkgroup) {
    throw new Error(`crossEntropy: workgroupSize ${wg} is not a power of two within the adapter's limit`);
  }
  const fused = ctx.pipeline(fusedSrc, { WRITE_GRAD: opts.grad ?? true, WG: wg });
  // One dispatch per group this call's rows reach: the group's rows here, with its own gradient scale.
  const rows = batchRows / G;
  scales.forEach((scale, g) => {
    const first = Math.max(0, g * rows - firstRow);
    const end = Math.min(T, (g + 1) * rows - firstRow);
    if (end <= first) return;
    const params = FUSED_PARAMS.pack({ T: end, V, grad_scale: scale, first_row: first });
    ctx.dispatch(fused, [logits, targets, losses, ctx.uniform(params)], grid1d(ctx, (end - first) * wg, wg));
  });
  return losses;
}

/**
 * {Σ losses, counted rows} per group ([2·groups], groups equal contiguous rows, default one) of per-row losses
 * [T] (rows whose target is outside [0, V) not counted).
 */
export function crossEntropyTotal(
  ctx: GpuContext,
  losses: Tensor<'f32'>,
  targets: Tensor<'i32'>,
  opts: { T: number; V: number; groups?: number },
  out?: Tensor<'f32'>,
): Tensor<'f32'> {
  const { T, V, groups = 1 } = opts;
  if (groups < 1 || T % groups !== 0)
    throw new Error(`crossEntropy: ${T} rows do not split into ${groups} equal groups`);
  checkSize('losses', losses, T);
  checkSize('targets', targets, T);
  const total = out ?? ctx.tensor([2 * groups]);
  checkSize('total', total, 2 * groups);
  // Always run, so an empty batch still yields {0, 0} rather than stale pool contents.
  ctx.dispatch(
    ctx.pipeline(reduceSrc),
    [losses, targets, total, ctx.uniform(REDUCE_PARAMS.pack({ T, V, rows: T / groups }))],
    [groups],
  );
  return total;
}

function checkSize(name: string, t: Tensor, needed: number): void {
  if (t.numel < needed) throw new Error(`crossEntropy: ${name} has ${t.numel} elements, needs ${needed}`);
}
