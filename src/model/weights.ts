// The base model's weights on the GPU, streamed tensor by tensor (never the whole file in memory). Norm
// weights become f32 tensors; matrices become Weights, stored as they come (F32, F16, Q8_0, Q4_0) or
// quantized on load to Q8_0 / Q4_0 on the GPU. BF16 is widened to f32 (f16 cannot hold its range); Q4_K /
// Q6_K, which our matmuls do not read, are requantized to Q8_0 (or the chosen format).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { quantizeWeight, requantize } from '../ops/quantize';
import { type Weight, type WeightType, uploadWeight } from '../ops/weight';
import { f16ToF32 } from '../reference/f16';
import { QK } from '../reference/quant';
import type { LlamaConfig } from './config';
import type { TensorSource } from './tensorSource';

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

export async function loadWeights(ctx: GpuContext, tensors: TensorSource[], cfg: LlamaConfig,
  opts: LoadWeightsOptions = {}): Promise<ModelWeights> {
  const quant = opts.quant ?? 'keep';
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const total = tensors.reduce((n, t) => n + t.byteLength, 0);
  let loaded = 0;
  const fetch = async (name: string, shape: number[]) => {
    const t = byName.get(name);
    if (!t) throw new WeightLoadError(`tensor ${name} is missing from the model file.`);
    if (t.shape.join() !== shape.join()) throw new WeightLoadError(`tensor ${name} has shape [${t.shape}], expected [${shape}].`);
    const bytes = await t.read();
    loaded += t.byteLength;
    opts.onProgress?.(loaded, total);
    return { t, bytes };
  };
  const matrix = async (name: string, rows: number, cols: number): Promise<Weight> => {
    const { t, bytes } = await fetch(name, [rows, cols]);
    return toWeight(ctx, t.dtype, bytes, rows, cols, quant, name);
  };
  const vector = async (name: string, n: number): Promise<Tensor<'f32'>> => {
    const { t, bytes } = await fetch(name, [n]);
    return ctx.upload(toF32(t.dtype, bytes, name), [n]);
  };
  const optionalVector = (name: string, n: number) => (byName.has(name) ? vector(name, n) : Promise.resolve(undefined));

  const { dim, hiddenDim, nHeads, nKvHeads, headDim, vocabSize } = cfg;
  const q = nHeads * headDim;
  const kv = nKvHeads * headDim;
  const embed = await matrix('token_embd.weight', vocabSize, dim);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: await vector(`${p}attn_norm.weight`, dim),
      wq: await matrix(`${p}attn_q.weight`, q, dim),
      wk: await matrix(`${p}attn_k.weight`, kv, dim),
      wv: await matrix(`${p}attn_v.weight`, kv, dim),
      bq: await optionalVector(`${p}attn_q.bias`, q),
      bk: await optionalVector(`${p}attn_k.bias`, kv),
      bv: await optionalVector(`${p}attn_v.bias`, kv),
      wo: await matrix(`${p}attn_output.weight`, dim, q),
      ffnNorm: await vector(`${p}ffn_norm.weight`, dim),
      gate: await matrix(`${p}ffn_gate.weight`, hiddenDim, dim),
      up: await matrix(`${p}ffn_up.weight`, hiddenDim, dim),
      down: await matrix(`${p}ffn_down.weight`, dim, hiddenDim),
    });
  }
  const outNorm = await vector('output_norm.weight', dim);
  const head = cfg.tiedEmbeddings ? embed : await matrix('output.weight', vocabSize, dim);
  const ropeFactors = await optionalVector('rope_freqs.weight', headDim / 2);
  return { embed, layers, outNorm, head, ropeFactors };
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
    case 'F32': return new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4).slice();
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
    default: throw new WeightLoadError(`tensor ${name} is ${dtype}; expected a float type.`);
  }
}

function toWeight(ctx: GpuContext, dtype: string, bytes: Uint8Array, rows: number, cols: number, quant: BaseQuant,
  name: string): Weight {
  const quantizable = quant !== 'keep' && cols % QK === 0;
  switch (dtype) {
    case 'Q8_0':
    case 'Q4_0':
      // Already in a format our matmuls read: converting between them would only lose precision.
      return uploadWeight(ctx, dtype === 'Q8_0' ? 'q8_0' : 'q4_0', rows, cols, bytes);
    case 'Q4_K':
    case 'Q6_K': {
      if (cols % 256) throw new WeightLoadError(`tensor ${name}: ${dtype} rows of ${cols} are not whole 256-value blocks.`);
      const words = ctx.upload(new Uint32Array(bytes.slice().buffer), [bytes.byteLength / 4], 'u32');
      const w = requantize(ctx, words, dtype === 'Q4_K' ? 'q4_k' : 'q6_k', rows, cols, quant === 'q4_0' ? 'q4_0' : 'q8_0');
      words.release();
      return w;
    }
    case 'F32':
    case 'F16':
      if (!quantizable) return uploadWeight(ctx, dtype === 'F32' ? 'f32' : 'f16', rows, cols, bytes);
      break;
    case 'BF16':
      break;
    default:
      throw new WeightLoadError(`tensor ${name} has unsupported type ${dtype}.`);
  }
  const f32 = toF32(dtype, bytes, name);
  if (!quantizable) return uploadWeight(ctx, 'f32' as WeightType, rows, cols, new Uint8Array(f32.buffer));
  const x = ctx.upload(f32, [rows, cols]);
  const w = quantizeWeight(ctx, x, rows, cols, quant as 'q8_0' | 'q4_0');
  x.release();
  return w;
}
