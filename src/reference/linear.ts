// Float64 reference for linear (products with a frozen, possibly quantized base weight): the specification
// the GPU kernels are tested against. Weights are dequantized exactly, then multiplied in float64.

import type { WeightType } from '../ops/weight';
import { f16ToF32 } from '../io/f16';
import { dequantize } from '../io/quant';

/** A weight on the host: the same raw GGML-layout bytes that uploadWeight puts on the GPU. */
export interface HostWeight {
  type: WeightType;
  rows: number;
  cols: number;
  bytes: Uint8Array;
}

export interface RefLinearOptions {
  /** Add the product to `out` (required then) instead of returning the product alone. */
  accumulate?: boolean;
  alpha?: number;
}

/** The weight as a float64 [rows, cols] row-major matrix, decoded exactly. */
export function weightRef(w: HostWeight): Float64Array {
  const n = w.rows * w.cols;
  const view = new DataView(w.bytes.buffer, w.bytes.byteOffset, w.bytes.byteLength);
  switch (w.type) {
    case 'f32':
      return Float64Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
    case 'f16':
      return Float64Array.from({ length: n }, (_, i) => f16ToF32(view.getUint16(2 * i, true)));
    case 'bf16': // the f32 whose high half it is
      return Float64Array.from(
        { length: n },
        (_, i) => new Float32Array(Uint32Array.of(view.getUint16(2 * i, true) << 16).buffer)[0],
      );
    default:
      return dequantize(w.type, w.bytes, n);
  }
}

/** y [T, rows] = alpha·x·Wᵀ (+ out), x [T, cols]. */
export function linearRef(
  x: ArrayLike<number>,
  w: HostWeight,
  T: number,
  opts: RefLinearOptions = {},
  out?: ArrayLike<number>,
): Float64Array {
  const W = weightRef(w);
  const y = new Float64Array(T * w.rows);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < w.rows; o++) {
      let s = 0;
      for (let i = 0; i < w.cols; i++) s += x[t * w.cols + i] * W[o * w.cols + i];
      y[t * w.rows + o] = (opts.alpha ?? 1) * s + (opts.accumulate ? out![t * w.rows + o] : 0);
    }
  }
  return y;
}

/** dx [T, cols] = alpha·dy·W (+ out), dy [T, rows]: the input gradient of linear. */
export function linearBackwardInputRef(
  dy: ArrayLike<number>,
  w: HostWeight,
  T: number,
  opts: RefLinearOptions = {},
  out?: ArrayLike<number>,
): Float64Array {
  const W = weightRef(w);
  const dx = new Float64Array(T * w.cols);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < w.cols; i++) {
      let s = 0;
      for (let o = 0; o < w.rows; o++) s += dy[t * w.rows + o] * W[o * w.cols + i];
      dx[t * w.cols + i] = (opts.alpha ?? 1) * s + (opts.accumulate ? out![t * w.cols + i] : 0);
    }
  }
  return dx;
}
