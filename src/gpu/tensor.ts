// A tensor is a pooled GPU buffer (or a byte range of one, for the views of a TensorPack) with a row-major
// shape. It does not own its data on the host.

export type DType = 'f32' | 'u32' | 'i32';

export const BYTES_PER_ELEMENT: Record<DType, number> = { f32: 4, u32: 4, i32: 4 };

export type TypedArrayOf<D extends DType> = D extends 'f32' ? Float32Array : D extends 'u32' ? Uint32Array : Int32Array;

export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class Tensor<D extends DType = DType> {
  private released = false;

  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: D,
    private onRelease: (buffer: GPUBuffer) => void,
    /** Where the tensor starts in its buffer, in bytes (a multiple of 256; 0 unless it is a pack's view). */
    readonly offset = 0,
  ) {}

  get numel(): number {
    return numel(this.shape);
  }

  get byteLength(): number {
    return this.numel * BYTES_PER_ELEMENT[this.dtype];
  }

  /** Returns the buffer to the pool. Commands already recorded that use it still see the old data. */
  release(): void {
    if (this.released) throw new Error('Tensor released twice');
    this.released = true;
    this.onRelease(this.buffer);
  }
}
