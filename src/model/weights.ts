// The base model's weights on the GPU, streamed tensor by tensor from a GGUF or llama2.c file (never the whole
// file in memory). Norm weights are f32 tensors; matrices are Weights stored as they come (F32, F16, Q8_0, Q4_0).

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { ByteSource } from '../io/byteSource';
import { type Weight, type WeightType, uploadWeight } from '../ops/weight';
import type { LlamaConfig } from './config';

export interface LayerWeights {
  attnNorm: Tensor<'f32'>;
  wq: Weight;
  wk: Weight;
  wv: Weight;
  wo: Weight;
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
}

/** A tensor in a model file: GGUF-style name, row-major shape, storage type and where its bytes are. */
export interface FileTensor {
  name: string;
  shape: number[];
  type: string;
  offset: number;
  byteLength: number;
}

const STORED: Record<string, WeightType> = { F32: 'f32', F16: 'f16', Q8_0: 'q8_0', Q4_0: 'q4_0' };

export class WeightLoadError extends Error {
  override name = 'WeightLoadError';
}

export async function loadWeights(
  ctx: GpuContext, src: ByteSource, tensors: FileTensor[], cfg: LlamaConfig,
  onProgress?: (loadedBytes: number, totalBytes: number) => void,
): Promise<ModelWeights> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const total = tensors.reduce((n, t) => n + t.byteLength, 0);
  let loaded = 0;
  const fetch = async (name: string, shape: number[]) => {
    const t = byName.get(name);
    if (!t) throw new WeightLoadError(`${src.name}: tensor ${name} is missing.`);
    if (t.shape.join() !== shape.join()) {
      throw new WeightLoadError(`${src.name}: tensor ${name} has shape [${t.shape}], expected [${shape}].`);
    }
    const bytes = await src.read(t.offset, t.byteLength);
    loaded += t.byteLength;
    onProgress?.(loaded, total);
    return { t, bytes };
  };
  const matrix = async (name: string, rows: number, cols: number): Promise<Weight> => {
    const { t, bytes } = await fetch(name, [rows, cols]);
    const type = STORED[t.type];
    if (!type) throw new WeightLoadError(`${src.name}: tensor ${name} is ${t.type}; load it with requantization (not yet supported here).`);
    return uploadWeight(ctx, type, rows, cols, bytes);
  };
  const vector = async (name: string, n: number): Promise<Tensor<'f32'>> => {
    const { t, bytes } = await fetch(name, [n]);
    if (t.type !== 'F32') throw new WeightLoadError(`${src.name}: norm weight ${name} is ${t.type}, expected F32.`);
    return ctx.upload(new Float32Array(bytes.slice().buffer), [n]);
  };

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
      wo: await matrix(`${p}attn_output.weight`, dim, q),
      ffnNorm: await vector(`${p}ffn_norm.weight`, dim),
      gate: await matrix(`${p}ffn_gate.weight`, hiddenDim, dim),
      up: await matrix(`${p}ffn_up.weight`, hiddenDim, dim),
      down: await matrix(`${p}ffn_down.weight`, dim, hiddenDim),
    });
  }
  const outNorm = await vector('output_norm.weight', dim);
  const head = cfg.tiedEmbeddings ? embed : await matrix('output.weight', vocabSize, dim);
  return { embed, layers, outNorm, head };
}
