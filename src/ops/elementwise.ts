// Elementwise ops over flat f32 tensors of any length: the residual add (y = a + b, or a += b in place, as
// the residual stream and gradient sums need) and scaling (y = s·x, or x *= s in place).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import src from '../../shaders/elementwise.wgsl?raw';
import { grid1d } from './grid';
import { uniformStruct } from '../gpu/uniforms';

const PARAMS = uniformStruct(src, 'Params');
const WG = 64;

type EntryPoint = 'add' | 'add_inplace' | 'scale' | 'scale_inplace';

/** Records y = a + b over a's elements; y has a's shape. */
export function add(ctx: GpuContext, a: Tensor<'f32'>, b: Tensor<'f32'>, out?: Tensor<'f32'>): Tensor<'f32'> {
  const y = out ?? ctx.tensor(a.shape);
  check('add', [b, y], a.numel);
  run(ctx, 'add', a.numel, 0, [a, b, y]);
  return y;
}

/** Records a += b over a's elements; returns a. */
export function addInPlace(ctx: GpuContext, a: Tensor<'f32'>, b: Tensor<'f32'>): Tensor<'f32'> {
  check('addInPlace', [b], a.numel);
  run(ctx, 'add_inplace', a.numel, 0, [a, b]);
  return a;
}

/** Records y = s·x over x's elements; y has x's shape. */
export function scale(ctx: GpuContext, x: Tensor<'f32'>, s: number, out?: Tensor<'f32'>): Tensor<'f32'> {
  const y = out ?? ctx.tensor(x.shape);
  check('scale', [y], x.numel);
  run(ctx, 'scale', x.numel, s, [x, y]);
  return y;
}

/** Records x *= s; returns x. */
export function scaleInPlace(ctx: GpuContext, x: Tensor<'f32'>, s: number): Tensor<'f32'> {
  run(ctx, 'scale_inplace', x.numel, s, [x]);
  return x;
}

function run(ctx: GpuContext, entry: EntryPoint, n: number, s: number, tensors: Tensor<'f32'>[]): void {
  // The uniform is binding 0 in every entry point; the tensors follow in the entry point's order.
  ctx.dispatch(
    ctx.pipeline(src, undefined, entry),
    [ctx.uniform(PARAMS.pack({ n, s })), ...tensors],
    grid1d(ctx, n, WG),
  );
}

function check(op: string, tensors: Tensor[], n: number): void {
  for (const t of tensors) if (t.numel < n) throw new Error(`${op}: a tensor has ${t.numel} elements, needs ${n}`);
}
