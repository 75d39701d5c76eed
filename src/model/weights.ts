// The base model's weights on the GPU, streamed tensor by tensor (never the whole file in memory). Norm
// weights become f32 tensors; matrices become Weights, stored as they come (F32, F16, Q8_0, Q4_0) or
// quantized on load to Q8_0 / Q4_0 on the GPU. BF16 is kept as bf16 (the f16 kernels widen either); Q4_K /
// Q6_K, which our matmuls do not read, are requantized to Q8_0 (or the chosen format).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { quantizeWeight, requantize } from '../ops/quantize';
import { type Weight, rowBytes, uploadWeight, weightBytes } from '../ops/weight';
import { f16ToF32 } from '../io/f16';
import { ggmlBytes, ggmlType, ggmlTypeByName } from '../io/ggml';
import type { LlamaConfig } from './config';
import { KERNEL_TYPE, QUANTIZE_CHUNK_BYTES, placeMatrix, quantizeChunkRows } from './memory';
import type { StoredDtype, TensorSource } from './tensorSource';

export type BaseQuant = 'keep' | 'q8_0' | 'q4_0';

export interface LayerWeights {
  attnNorm: Tensor<'f32'>;
  wq: Weight;
  wk: Weight;
  wv: Weight;
  wo: Weight;
  /** Qwen2's q/k/v biases, added after the projections. */
  bq?: Tensor<'f32'>;
  bk?: Tensor<'f32'>;
  bv?: Tensor<'f32'>;
  ffnNorm: Tensor<'f32'>;
  gate: Weight;
  up: Weight;
  down: Weight;
}

export interface ModelWeights {
  embed: Weight;
  layers: LayerWeights[];
  outNorm: Tensor<'f32'>;
  /** The output head: the embedding itself when tied. */
  head: Weight;
  /** Llama-3 rope_freqs.weight: per-frequency divisors, when the file has them. */
  ropeFactors?: Tensor<'f32'>;
}

export class WeightLoadError extends Error {
  override name = 'WeightLoadError';
}

export interface LoadWeightsOptions {
  quant?: BaseQuant;
  onProgress?: (loadedBytes: number, totalBytes: number) => void;
}

/** Every tensor the config implies, with its shape; optional ones (biases, rope_freqs) may be absent. */
interface ExpectedTensor {
  name: string;
  shape: number[];
  optional?: boolean;
}

function expectedTensors(cfg: LlamaConfig): ExpectedTensor[] {
  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize } = cfg;
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const out: ExpectedTensor[] = [{ name: 'token_embd.weight', shape: [vocabSize, dim] }];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blk.${l}.`;
    out.push(
      { name: `${p}attn_norm.weight`, shape: [dim] },
      { name: `${p}attn_q.weight`, shape: [q, dim] },
      { name: `${p}attn_k.weight`, shape: [kv, dim] },
      { name: `${p}attn_v.weight`, shape: [kv, dim] },
      { name: `${p}attn_q.bias`, shape: [q], optional: true },
      { name: `${p}attn_k.bias`, shape: [kv], optional: true },
      { name: `${p}attn_v.bias`, shape: [kv], optional: true },
      { name: `${p}attn_output.weight`, shape: [dim, q] },
      { name: `${p}ffn_norm.weight`, shape: [dim] },
      { name: `${p}ffn_gate.weight`, shape: [hiddenDim, dim] },
      { name: `${p}ffn_up.weight`, shape: [hiddenDim, dim] },
      { name: `${p}ffn_down.weight`, shape: [dim, hiddenDim] },
    );
  }
  out.push({ name: 'output_norm.weight', shape: [dim] });
  if (!cfg.tiedEmbeddings) out.push({ name: 'output.weight', shape: [vocabSize, dim] });
  out.push({ name: 'rope_freqs.weight', shape: [headDim / 2], optional: true });
  return out;
}

/** Checks every expected tensor and its shape before the first upload, so a bad file fails cleanly. */
function checkTensors(byName: ReadonlyMap<string, TensorSource>, cfg: LlamaConfig): void {
  for (const { name, shape, optional } of expectedTensors(cfg)) {
    const t = byName.get(name);
    if (!t) {
      if (optional) continue;
      throw new WeightLoadError(`tensor ${name} is missing from the model file.`);
    }
    if (t.shape.join() !== shape.join())
      throw new WeightLoadError(`tensor ${name} has shape [${t.shape}], expected [${shape}].`);
  }
}

/**
 * Reads tensors one at a time and uploads them, reporting progress, and remembers every buffer it made so a
 * failure part-way can free them all.
 */
class Uploader {
  readonly uploaded: Tensor[] = [];
  private loaded = 0;
  private readonly total: number;

  constructor(
    private readonly ctx: GpuContext,
    tensors: readonly TensorSource[],
    private readonly opts: LoadWeightsOptions,
  ) {
    this.byName = new Map(tensors.map((t) => [t.name, t]));
    this.total = tensors.reduce((n, t) => n + t.byteLength, 0);
  }

  readonly byName: ReadonlyMap<string, TensorSource>;

  private async read(name: string): Promise<{ t: TensorSource; bytes: Uint8Array }> {
    const t = this.byName.get(name)!;
    const bytes = await t.read();
    this.loaded += t.byteLength;
    this.opts.onProgress?.(this.loaded, this.total);
    return { t, bytes };
  }

  async matrix(name: string): Promise<Weight> {
    const { t, bytes } = await this.read(name);
    const w = toWeight(this.ctx, t.dtype, bytes, t.shape[0], t.shape[1], this.opts.quant ?? 'keep', name);
    this.uploaded.push(w.data);
    return w;
  }

  async vector(name: string): Promise<Tensor<'f32'>> {
    const { t, bytes } = await this.read(name);
    const v = this.ctx.upload(toF32(t.dtype, bytes, name), [t.shape[0]]);
    this.uploaded.push(v);
    return v;
  }

  optionalVector(name: string): Promise<Tensor<'f32'> | undefined> {
    return this.byName.has(name) ? this.vector(name) : Promise.resolve(undefined);
  }
}

/** One block's tensors, in file order. */
async function loadLayer(up: Uploader, l: number): Promise<LayerWeights> {
  const p = `blk.${l}.`;
  return {
    attnNorm: await up.vector(`${p}attn_norm.weight`),
    wq: await up.matrix(`${p}attn_q.weight`),
    wk: await up.matrix(`${p}attn_k.weight`),
    wv: await up.matrix(`${p}attn_v.weight`),
    bq: await up.optionalVector(`${p}attn_q.bias`),
    bk: await up.optionalVector(`${p}attn_k.bias`),
    bv: await up.optionalVector(`${p}attn_v.bias`),
    wo: await up.matrix(`${p}attn_output.weight`),
    ffnNorm: await up.vector(`${p}ffn_norm.weight`),
    gate: await up.matrix(`${p}ffn_gate.weight`),
    up: await up.matrix(`${p}ffn_up.weight`),
    down: await up.matrix(`${p}ffn_down.weight`),
  };
}

export async function loadWeights(
  ctx: GpuContext,
  tensors: TensorSource[],
  cfg: LlamaConfig,
  opts: LoadWeightsOptions = {},
): Promise<ModelWeights> {
  const up = new Uploader(ctx, tensors, opts);
  checkTensors(up.byName, cfg);
  try {
    const embed = await up.matrix('token_embd.weight');
    const layers: LayerWeights[] = [];
    for (let l = 0; l < cfg.nLayers; l++) layers.push(await loadLayer(up, l));
    const outNorm = await up.vector('output_norm.weight');
    const head = cfg.tiedEmbeddings ? embed : await up.matrix('output.weight');
    const ropeFactors = await up.optionalVector('rope_freqs.weight');
    return { embed, layers, outNorm, head, ropeFactors };
  } catch (e) {
    up.uploaded.forEach((t) => t.release()); // nothing half-loaded stays on the GPU
    throw e;
  }
}

/** Frees every GPU buffer of the model (the head is freed once when tied). */
export function releaseWeights(w: ModelWeights): void {
  const seen = new Set<Tensor>();
  const free = (t: Tensor | undefined) => {
    if (t && !seen.has(t)) {
      seen.add(t);
      t.release();
    }
  };
  free(w.embed.data);
  free(w.head.data);
  free(w.outNorm);
  free(w.ropeFactors);
  for (const l of w.layers) {
    for (const x of [l.attnNorm, l.ffnNorm, l.bq, l.bk, l.bv]) free(x);
    for (const m of [l.wq, l.wk, l.wv, l.wo, l.gate, l.up, l.down]) free(m.data);
  }
}

/** Host decode to f32 of the float dtypes (norms, biases, and matrices on their way to quantization). */
export function toF32(dtype: string, bytes: Uint8Array, name: string): Float32Array {
  const aligned = bytes.byteOffset % 4 ? bytes.slice() : bytes;
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
    case 'F16': {
      const h = new Uint16Array(bytes.slice().buffer);
      return Float32Array.from(h, f16ToF32);
    }
    case 'BF16': {
      const h = new Uint16Array(bytes.slice().buffer);
      const out = new Uint32Array(h.length);
      for (let i = 0; i < h.length; i++) out[i] = h[i] << 16;
      return new Float32Array(out.buffer);
    }
    default:
      throw new WeightLoadError(`tensor ${name} is ${dtype}; expected a float type.`);
  }
}

function toWeight(
  ctx: GpuContext,
  dtype: StoredDtype,
  bytes: Uint8Array,
  rows: number,
  cols: number,
  quant: BaseQuant,
  name: string,
): Weight {
  if (!ggmlTypeByName.has(dtype)) throw new WeightLoadError(`tensor ${name} has unsupported type ${dtype}.`);
  const { blockSize } = ggmlType(dtype);
  if (cols % blockSize)
    throw new WeightLoadError(`tensor ${name}: ${dtype} rows of ${cols} are not whole ${blockSize}-value blocks.`);
  const { gpuType } = placeMatrix(dtype, rows, cols, quant);
  if (gpuType === KERNEL_TYPE[dtype]) return uploadWeight(ctx, gpuType, rows, cols, bytes);
  if (gpuType === 'f32' || gpuType === 'f16' || gpuType === 'bf16')
    throw new Error(`unreachable: ${dtype} placed as ${gpuType}`); // float types are kept as stored
  return quantizeRows(ctx, dtype, bytes, rows, cols, gpuType, name);
}

/** The K-quant decoders' names for the two K-quant types (src/ops/quantize.ts). */
const K_KERNEL_TYPE = { Q4_K: 'q4_k', Q6_K: 'q6_k' } as const;

/**
 * Quantizes a float (or requantizes a Q4_K / Q6_K) matrix on the GPU a chunk of rows at a time, decoding only
 * that chunk, and gathers the blocks into one Weight.
 */
export function quantizeRows(
  ctx: GpuContext,
  dtype: StoredDtype,
  bytes: Uint8Array,
  rows: number,
  cols: number,
  type: 'q8_0' | 'q4_0',
  name: string,
  chunkBytes = QUANTIZE_CHUNK_BYTES,
): Weight {
  const stored = ggmlBytes(ggmlType(dtype), cols); // bytes of one stored row
  const chunkRows = quantizeChunkRows(cols, chunkBytes);
  const out = ctx.tensor<'u32'>([Math.ceil(weightBytes(type, rows, cols) / 4)], 'u32', `${type} ${name}`);
  for (let r0 = 0; r0 < rows; r0 += chunkRows) {
    const n = Math.min(chunkRows, rows - r0);
    const chunk = bytes.subarray(r0 * stored, (r0 + n) * stored);
    let w: Weight;
    if (dtype === 'Q4_K' || dtype === 'Q6_K') {
      // Even row counts keep 210-byte Q6_K rows word-aligned too (cols/256·210·2 is a multiple of 4).
      const padded = new Uint8Array(Math.ceil(chunk.byteLength / 4) * 4); // an odd last chunk of Q6_K rows
      padded.set(chunk);
      const words = ctx.upload(new Uint32Array(padded.buffer), [padded.byteLength / 4], 'u32');
      w = requantize(ctx, words, K_KERNEL_TYPE[dtype], n, cols, type);
      words.release();
    } else {
      const x = ctx.upload(toF32(dtype, chunk, name), [n, cols]);
      w = quantizeWeight(ctx, x, n, cols, type);
      x.release();
    }
    ctx.copy(w.data, out, Math.ceil(weightBytes(type, n, cols) / 4) * 4, 0, r0 * rowBytes(type, cols));
    w.data.release();
  }
  return { type, rows, cols, data: out };
}
