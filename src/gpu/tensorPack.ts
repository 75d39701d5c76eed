// Many small tensors packed into one buffer: an adapter's parameters, their gradients, copies and optimizer
// moments are each a list of a few hundred small tensors, and an element-wise op over a list should be one
// dispatch, not one per tensor. Each tensor of a pack is a view (the buffer at a 256-byte-aligned offset,
// WebGPU's largest minStorageBufferOffsetAlignment), so kernels bind it exactly as before; `coalesce` turns
// consecutive views of a list into one span, padding included. Padding is zeroed at creation and every
// element-wise op keeps zeros zero (0·x, 0 + 0, AdamW of 0 with zero moments), so spans sum, scale and check
// the same values as the tensors they cover.

import type { GpuContext } from './context';
import { Tensor, numel } from './tensor';

export const PACK_ALIGN = 256;

export function alignTo(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Where each tensor of a pack lives: buffer index and byte offset, in the list's order. */
export interface PackLayout {
  shapes: (readonly number[])[];
  slots: { buffer: number; offset: number }[];
  bufferBytes: number[];
}

/**
 * Places tensors in `order` (indices into shapes; the list order when omitted), starting a new buffer when
 * the next would pass `maxBytes` (the storage binding limit), so a span is always bindable.
 */
export function packLayout(
  shapes: readonly (readonly number[])[],
  maxBytes: number,
  order?: readonly number[],
): PackLayout {
  const slots: PackLayout['slots'] = new Array(shapes.length);
  const bufferBytes: number[] = [];
  let offset = 0;
  for (const i of order ?? shapes.map((_, k) => k)) {
    const bytes = 4 * numel(shapes[i]);
    // An empty tensor takes no room but is still bound with 4 bytes, which must lie inside the buffer.
    const bound = Math.max(4, bytes);
    if (bound > maxBytes) throw new Error(`a ${bytes}-byte tensor cannot be bound (limit ${maxBytes} bytes)`);
    let at = alignTo(offset, PACK_ALIGN);
    if (bufferBytes.length === 0 || at + bound > maxBytes) {
      bufferBytes.push(0);
      at = 0;
    }
    const k = bufferBytes.length - 1;
    slots[i] = { buffer: k, offset: at };
    offset = at + bytes;
    bufferBytes[k] = Math.max(bufferBytes[k], at + bound);
  }
  if (slots.length !== shapes.length || slots.some((s) => !s))
    throw new Error('packLayout: order must list every tensor once');
  return { shapes: [...shapes], slots, bufferBytes };
}

const packOfView = new WeakMap<Tensor, TensorPack>();

/** The pack a tensor is a view of, if any. */
export function packOf(t: Tensor): TensorPack | undefined {
  return packOfView.get(t);
}

export class TensorPack {
  /** The views, in the list's order. Releasing all of them releases the buffers. */
  readonly tensors: Tensor<'f32'>[];
  private readonly buffers: Tensor<'f32'>[];
  private live: number;

  private constructor(
    ctx: GpuContext,
    readonly layout: PackLayout,
    values?: readonly ArrayLike<number>[],
  ) {
    this.buffers = layout.bufferBytes.map((b) => ctx.tensor([alignTo(b, 4) / 4], 'f32', 'tensor pack'));
    const host = layout.bufferBytes.map((b) => new Float32Array(alignTo(b, 4) / 4));
    if (values) {
      if (values.length !== layout.shapes.length)
        throw new Error(`TensorPack: ${values.length} values for ${layout.shapes.length} tensors`);
      values.forEach((v, i) => {
        const n = numel(layout.shapes[i]);
        if (v.length !== n) throw new Error(`TensorPack: tensor ${i} has ${n} elements, got ${v.length} values`);
        host[layout.slots[i].buffer].set(v, layout.slots[i].offset / 4);
      });
    }
    // Zeros (or the values) everywhere, padding included: one host write per buffer.
    this.buffers.forEach((b, k) => ctx.write(b.buffer, host[k]));
    this.live = layout.shapes.length;
    this.tensors = layout.shapes.map((shape, i) => {
      const { buffer, offset } = layout.slots[i];
      const view = new Tensor<'f32'>(this.buffers[buffer].buffer, shape, 'f32', () => this.releaseOne(), offset);
      packOfView.set(view, this);
      return view;
    });
  }

  /** A zeroed pack with a precomputed layout (stackedPack's). */
  static fromLayout(ctx: GpuContext, layout: PackLayout): TensorPack {
    return new TensorPack(ctx, layout);
  }

  /** A pack of f32 tensors, zeroed or holding `values` (one array per tensor), laid out by `order`. */
  static create(
    ctx: GpuContext,
    shapes: readonly (readonly number[])[],
    o: { order?: readonly number[]; values?: readonly ArrayLike<number>[] } = {},
  ): TensorPack {
    return new TensorPack(ctx, packLayout(shapes, ctx.device.limits.maxStorageBufferBindingSize, o.order), o.values);
  }

  /**
   * A zeroed pack laid out like the one `tensors` are the complete view list of (so lists pair up span by
   * span), or null when they are not exactly one pack's views in order.
   */
  static like(ctx: GpuContext, tensors: readonly Tensor[]): TensorPack | null {
    const pack = tensors.length ? packOf(tensors[0]) : undefined;
    if (!pack || pack.tensors.length !== tensors.length || pack.tensors.some((t, i) => t !== tensors[i])) return null;
    return new TensorPack(ctx, pack.layout);
  }

  private releaseOne(): void {
    if (--this.live === 0) this.buffers.forEach((b) => b.release());
  }
}

/** A view of `bytes` of `buffer` at `offset`, standing for several tensors; it owns nothing. */
function span(buffer: GPUBuffer, offset: number, bytes: number): Tensor<'f32'> {
  return new Tensor<'f32'>(
    buffer,
    [bytes / 4],
    'f32',
    () => {
      throw new Error('a span of a tensor pack is not released; release its tensors');
    },
    offset,
  );
}

function adjacent(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && b.offset === alignTo(a.offset + a.byteLength, PACK_ALIGN);
}

/**
 * Lists that pair up element by element (params, gradients, moments…), each merged into spans: runs of
 * tensors that sit back to back in one pack in every list. Tensors are visited in the first list's buffer
 * and offset order (the same permutation for every list, so pairs stay pairs). Tensors that are not pack
 * views stay as they are, each its own span.
 */
export function coalesce(lists: readonly (readonly Tensor<'f32'>[])[]): Tensor<'f32'>[][] {
  const n = lists[0]?.length ?? 0;
  if (n < 2 || lists.some((l) => l.length !== n)) return lists.map((l) => [...l]);
  const first = lists[0];
  const rank = new Map<GPUBuffer, number>();
  for (const t of first) if (!rank.has(t.buffer)) rank.set(t.buffer, rank.size);
  const order = first
    .map((_, i) => i)
    .sort(
      (a, b) => rank.get(first[a].buffer)! - rank.get(first[b].buffer)! || first[a].offset - first[b].offset || a - b,
    );
  const out: Tensor<'f32'>[][] = lists.map(() => []);
  let start = 0;
  for (let k = 1; k <= n; k++) {
    if (k < n && lists.every((l) => adjacent(l[order[k - 1]], l[order[k]]))) continue;
    lists.forEach((l, j) => {
      const a = l[order[start]];
      const b = l[order[k - 1]];
      out[j].push(start === k - 1 ? a : span(a.buffer, a.offset, b.offset + b.byteLength - a.offset));
    });
    start = k;
  }
  return out;
}

/**
 * G copies of a list laid out copy after copy (MeTA-LoRA's K task-local θ_i, or their K gradients): copy g of
 * tensor i sits `strides[i]` elements after copy g − 1, so a batched kernel reaches every copy through one
 * binding (`strided[i]`) with that stride, and list ops over `all` are one span per buffer.
 */
export interface StackedPack {
  /** Copy g's views, paired tensor by tensor with the list it was made like. */
  copies: Tensor<'f32'>[][];
  /** Every copy's views, copy after copy. */
  all: Tensor<'f32'>[];
  /** Per tensor: one view from its copy 0 through its copy G − 1 (owns nothing: release the pack). */
  strided: Tensor<'f32'>[];
  /** Per tensor: elements between consecutive copies. */
  strides: number[];
  release(): void;
}

/**
 * A zeroed StackedPack of `copies` copies shaped like `like` (in the same buffer order when `like` is a pack's
 * views, so copy g pairs with `like` span by span). Each buffer holds every copy of its tensors, so one
 * copy's layout is planned within 1/G of the binding limit.
 */
export function stackedPack(ctx: GpuContext, like: readonly Tensor<'f32'>[], copies: number): StackedPack {
  if (!Number.isInteger(copies) || copies < 1)
    throw new Error(`stackedPack: copies must be a positive integer, got ${copies}`);
  const n = like.length;
  const limit = ctx.device.limits.maxStorageBufferBindingSize;
  const perCopy = Math.floor(limit / copies / PACK_ALIGN) * PACK_ALIGN;
  const rank = new Map<GPUBuffer, number>();
  for (const t of like) if (!rank.has(t.buffer)) rank.set(t.buffer, rank.size);
  const order = like
    .map((_, i) => i)
    .sort((a, b) => rank.get(like[a].buffer)! - rank.get(like[b].buffer)! || like[a].offset - like[b].offset || a - b);
  const one = packLayout(
    like.map((t) => t.shape),
    perCopy,
    order,
  );
  const strideBytes = one.bufferBytes.map((b) => alignTo(b, PACK_ALIGN));
  const slots: PackLayout['slots'] = [];
  for (let g = 0; g < copies; g++) {
    for (const s of one.slots) slots.push({ buffer: s.buffer, offset: g * strideBytes[s.buffer] + s.offset });
  }
  const layout: PackLayout = {
    shapes: Array.from({ length: copies }, () => one.shapes).flat(),
    slots,
    bufferBytes: one.bufferBytes.map((b, k) => (copies - 1) * strideBytes[k] + b),
  };
  const pack = TensorPack.fromLayout(ctx, layout);
  const all = pack.tensors;
  const strided = all.slice(0, n).map((t, i) => {
    const stride = strideBytes[one.slots[i].buffer];
    return new Tensor<'f32'>(
      t.buffer,
      [((copies - 1) * stride + t.byteLength) / 4],
      'f32',
      () => {
        throw new Error('a strided view of a stacked pack is not released; release the pack');
      },
      t.offset,
    );
  });
  return {
    copies: Array.from({ length: copies }, (_, g) => all.slice(g * n, (g + 1) * n)),
    all,
    strided,
    strides: one.slots.map((s) => strideBytes[s.buffer] / 4),
    release: () => all.forEach((t) => t.release()),
  };
}
