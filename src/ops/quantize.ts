// Weight (de)quantization on the GPU: f32 → Q8_0 / Q4_0 bytes identical to ggml's reference encoders
// (and src/reference/quant.ts), and Q4_K / Q6_K → f32 exactly as ggml decodes them, so k-quant tensors
// from published GGUF files can be kept as f32 or requantized to the formats our kernels read.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { type QuantType, QK } from '../io/quant';
import { type KQuantType, K_BLOCK_BYTES, QK_K } from '../io/quantK';
import { grid1d } from './grid';
import { type Weight, weightBytes } from './weight';
import quantizeSrc from '../../shaders/quantize.wgsl?raw';
import dequantizeKSrc from '../../shaders/dequantize_k.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const QUANTIZE_PARAMS = uniformStruct(quantizeSrc, 'Params');
const DEQUANTIZE_K_PARAMS = uniformStruct(dequantizeKSrc, 'Params');

/** Invocations per workgroup of both shaders (their `WG`). */
const WG = 64;

/**
 * Records the quantization of x ([rows, cols] row-major f32, cols % 32 == 0) to GGML blocks along each
 * row, byte for byte what ggml's quantize_row_*_ref writes. Inputs must be finite (see the shader for
 * the tiny-magnitude edge). The result owns a new buffer; x is left as it is.
 */
export function quantizeWeight(ctx: GpuContext, x: Tensor<'f32'>, rows: number, cols: number, type: QuantType): Weight {
  if (cols % QK) throw new Error(`quantizeWeight: ${type} needs a multiple of ${QK} columns, got ${cols}`);
  if (x.numel < rows * cols)
    throw new Error(`quantizeWeight: x has ${x.numel} values, [${rows}, ${cols}] needs ${rows * cols}`);
  const blocks = (rows * cols) / QK;
  const data = ctx.tensor<'u32'>([Math.ceil(weightBytes(type, rows, cols) / 4)], 'u32', `${type} weight`);
  if (blocks > 0) {
    const pipeline = ctx.pipeline(quantizeSrc, {}, type === 'q8_0' ? 'quantize_q8_0' : 'quantize_q4_0');
    // opaque_zero stays 0: the shader xors products with it so drivers cannot fuse them into fma.
    const params = QUANTIZE_PARAMS.pack({ blocks, opaque_zero: 0 });
    ctx.dispatch(pipeline, [x, data, ctx.uniform(params)], grid1d(ctx, Math.ceil(blocks / 2), WG));
  }
  return { type, rows, cols, data };
}

/** Bytes of a Q4_K / Q6_K tensor of n values (n % 256 == 0). */
export function kQuantBytes(type: KQuantType, n: number): number {
  if (n % QK_K) throw new Error(`${type} needs a multiple of ${QK_K} values, got ${n}`);
  return (n / QK_K) * K_BLOCK_BYTES[type];
}

/**
 * Records the decoding of n values (n % 256 == 0) of a Q4_K or Q6_K tensor, given as its raw bytes packed
 * little-endian into u32 words, into a new f32 tensor [n]; bit-identical with ggml's dequantize_row_*.
 */
export function dequantizeK(ctx: GpuContext, bytes: Tensor<'u32'>, type: KQuantType, n: number): Tensor<'f32'> {
  const need = Math.ceil(kQuantBytes(type, n) / 4);
  if (bytes.numel < need) throw new Error(`dequantizeK: ${type} × ${n} needs ${need} words, got ${bytes.numel}`);
  const out = ctx.tensor([n]);
  const groups = n / 32; // each invocation writes 32 values
  if (groups > 0) {
    const pipeline = ctx.pipeline(dequantizeKSrc, {}, type === 'q4_k' ? 'dequantize_q4_k' : 'dequantize_q6_k');
    ctx.dispatch(pipeline, [bytes, out, ctx.uniform(DEQUANTIZE_K_PARAMS.pack({ groups }))], grid1d(ctx, groups, WG));
  }
  return out;
}

/** Records Q4_K / Q6_K [rows, cols] (cols % 256 == 0) → f32 → Q8_0 or Q4_0; the f32 copy is released. */
export function requantize(
  ctx: GpuContext,
  bytes: Tensor<'u32'>,
  type: KQuantType,
  rows: number,
  cols: number,
  to: QuantType,
): Weight {
  if (cols % QK_K) throw new Error(`requantize: ${type} rows need a multiple of ${QK_K} columns, got ${cols}`);
  const values = dequantizeK(ctx, bytes, type, rows * cols);
  const weight = quantizeWeight(ctx, values, rows, cols, to);
  values.release(); // safe: later users of the buffer run after the recorded quantization
  return weight;
}
