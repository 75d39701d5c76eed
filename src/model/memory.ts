// GPU memory a model will take, computed from its configuration and its tensors' stored types before anything
// is allocated: the weights as loadWeights will store them, the transient buffers loading needs, a KV cache and
// the inference activations. `checkFits` turns the estimate into a clear error when one buffer would exceed the
// adapter's limits (docs/DESIGN.md §8): WebGPU cannot split a binding, so the largest single buffer is what fails.

import { GpuLimitError } from '../gpu/errors';
import { type WeightType, weightBytes } from '../ops/weight';
import { ggmlType } from '../io/ggml';
import { QK } from '../io/quant';
import { type LlamaConfig, parameterCount } from './config';
import type { ModelPreset } from './presets';
import type { StoredDtype } from './tensorSource';
import type { BaseQuant } from './weights';

/** What the estimate needs of a tensor: a TensorSource, or a synthetic one from `checkpointTensors`. */
export interface TensorShape {
  name: string;
  shape: number[];
  dtype: StoredDtype;
}

export interface TensorPlacement {
  name: string;
  shape: number[];
  stored: StoredDtype;
  /** How the GPU holds it: matrices as a Weight type, norms/biases/frequency factors as f32. */
  gpuType: WeightType;
  bytes: number;
  /**
   * A buffer that exists only while this tensor loads: the f32 upload that is quantized on the GPU, or the
   * K-quant bytes that are requantized. 0 when the tensor is uploaded as stored.
   */
  stagingBytes: number;
}

export interface BufferNeed {
  name: string;
  bytes: number;
}

export interface MemoryEstimate {
  quant: BaseQuant;
  contextLength: number;
  sequenceLength: number;
  weights: { bytes: number; byType: Partial<Record<WeightType, number>>; tensors: TensorPlacement[] };
  /** f32 K and V per layer, [contextLength, nKvHeads·headDim] each. */
  kvCache: { bytes: number; perBuffer: number };
  /** The inference forward's working set for `sequenceLength` tokens (see `activationBytes`). */
  activations: { bytes: number; largest: BufferNeed };
  /**
   * Peak bytes: the weights plus the larger of what loading stages (one tensor at a time, freed before
   * inference) and the KV cache with the activations.
   */
  total: number;
  largestBuffer: BufferNeed;
}

export interface EstimateOptions {
  quant?: BaseQuant;
  /** KV cache length; default min(config.contextLength, DEFAULT_CONTEXT). 0 leaves the cache out. */
  contextLength?: number;
  /** Tokens in one forward pass; default min(contextLength, DEFAULT_SEQUENCE). 0 leaves activations out. */
  sequenceLength?: number;
}

/** Context most sessions here use: real models declare 8K–128K, whose caches would dwarf the weights. */
export const DEFAULT_CONTEXT = 2048;
export const DEFAULT_SEQUENCE = 512;

const MATRIX =
  /^(token_embd|output)\.weight$|^blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.weight$/;
const VECTOR =
  /^(output_norm|rope_freqs)\.weight$|^blk\.\d+\.(attn_norm|ffn_norm)\.weight$|^blk\.\d+\.attn_[qkv]\.bias$/;

/**
 * The GGML types the GPU kernels read as stored, under the kernels' names (src/ops/weight.ts): the one place
 * the two spellings meet. Other stored types are converted on load.
 */
export const KERNEL_TYPE: Partial<Record<StoredDtype, WeightType>> = {
  F32: 'f32',
  F16: 'f16',
  BF16: 'bf16',
  Q8_0: 'q8_0',
  Q4_0: 'q4_0',
};

/**
 * Which type a matrix ends up in on the GPU, and what loading it stages: the rule loadWeights follows (its
 * `toWeight` asks this), so the estimate and the load cannot disagree.
 */
export function placeMatrix(
  stored: StoredDtype,
  rows: number,
  cols: number,
  quant: BaseQuant,
): { gpuType: WeightType; stagingBytes: number } {
  const quantizable = quant !== 'keep' && cols % QK === 0;
  switch (stored) {
    case 'Q8_0':
    case 'Q4_0':
      // Already in a format our matmuls read: converting between them would only lose precision.
      return { gpuType: KERNEL_TYPE[stored]!, stagingBytes: 0 };
    case 'Q4_K':
    case 'Q6_K': {
      // A chunk of rows at a time: its raw blocks, their f32 decode and the chunk's re-encoded blocks.
      const gpuType = quant === 'q4_0' ? 'q4_0' : 'q8_0';
      return {
        gpuType,
        stagingBytes: chunkStaging(rows, cols, gpuType, ggmlType(stored).blockBytes / ggmlType(stored).blockSize + 4),
      };
    }
    case 'F32':
    case 'F16':
    case 'BF16':
      if (quantizable)
        return {
          gpuType: quant as 'q8_0' | 'q4_0',
          stagingBytes: chunkStaging(rows, cols, quant as 'q8_0' | 'q4_0', 4),
        };
      // Kept as stored: the f16 kernels read bf16 too (BF16 cannot become f16 without losing range).
      return { gpuType: KERNEL_TYPE[stored]!, stagingBytes: 0 };
  }
}

/** Staging of quantizeRows: per chunk of rows, `perValue` bytes of input per value plus the chunk's blocks. */
function chunkStaging(rows: number, cols: number, type: 'q8_0' | 'q4_0', perValue: number): number {
  const n = Math.min(rows, quantizeChunkRows(cols));
  return Math.ceil(n * cols * perValue) + words(weightBytes(type, n, cols));
}

/** Weights are uploaded as whole u32 words. */
const words = (bytes: number) => Math.ceil(bytes / 4) * 4;

function placeTensor(t: TensorShape, quant: BaseQuant): TensorPlacement | null {
  const count = t.shape.reduce((a, b) => a * b, 1);
  if (VECTOR.test(t.name))
    return { name: t.name, shape: t.shape, stored: t.dtype, gpuType: 'f32', bytes: 4 * count, stagingBytes: 0 };
  if (!MATRIX.test(t.name) || t.shape.length !== 2) return null;
  const [rows, cols] = t.shape;
  const { gpuType, stagingBytes } = placeMatrix(t.dtype, rows, cols, quant);
  return {
    name: t.name,
    shape: t.shape,
    stored: t.dtype,
    gpuType,
    bytes: words(weightBytes(gpuType, rows, cols)),
    stagingBytes,
  };
}

/**
 * Activations of one inference forward pass over T tokens, in bytes: the residual stream and, per layer (all
 * released before the next layer), the norm output, q, k, v, attention output and row log-sum-exps, the FFN's
 * gate, up and SwiGLU product, plus the [T, vocab] logits. Training keeps these per layer, so multiply the
 * per-layer part by nLayers for a training step; this estimate is for inference.
 */
export function activationBytes(cfg: LlamaConfig, T: number): { bytes: number; largest: BufferNeed } {
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  const perToken = 3 * cfg.dim + 2 * q + 2 * kv + cfg.nHeads + 3 * cfg.hiddenDim + 2 + cfg.vocabSize;
  const candidates: BufferNeed[] = [
    { name: `logits [${T}, ${cfg.vocabSize}]`, bytes: 4 * T * cfg.vocabSize },
    { name: `FFN activation [${T}, ${cfg.hiddenDim}]`, bytes: 4 * T * cfg.hiddenDim },
    { name: `attention queries [${T}, ${q}]`, bytes: 4 * T * q },
  ];
  return { bytes: 4 * T * perToken, largest: largestOf(candidates) };
}

function largestOf(buffers: BufferNeed[]): BufferNeed {
  return buffers.reduce((a, b) => (b.bytes > a.bytes ? b : a), { name: 'none', bytes: 0 });
}

export function estimateMemory(cfg: LlamaConfig, tensors: TensorShape[], opts: EstimateOptions = {}): MemoryEstimate {
  const quant = opts.quant ?? 'keep';
  const contextLength = opts.contextLength ?? Math.min(cfg.contextLength, DEFAULT_CONTEXT);
  const sequenceLength = opts.sequenceLength ?? Math.min(contextLength || DEFAULT_SEQUENCE, DEFAULT_SEQUENCE);
  const placed = tensors
    .filter((t) => {
      const layer = /^blk\.(\d+)\./.exec(t.name);
      return !layer || Number(layer[1]) < cfg.nLayers; // loadWeights reads only the configured layers
    })
    .map((t) => placeTensor(t, quant))
    .filter((p): p is TensorPlacement => p !== null);
  const byType: Partial<Record<WeightType, number>> = {};
  for (const p of placed) byType[p.gpuType] = (byType[p.gpuType] ?? 0) + p.bytes;
  const weightTotal = placed.reduce((n, p) => n + p.bytes, 0);
  const perBuffer = 4 * contextLength * cfg.nKvHeads * cfg.headDim;
  const kvBytes = 2 * cfg.nLayers * perBuffer;
  const act =
    sequenceLength > 0 ? activationBytes(cfg, sequenceLength) : { bytes: 0, largest: { name: 'none', bytes: 0 } };
  const staging = largestOf(placed.map((p) => ({ name: `${p.name} (while loading)`, bytes: p.stagingBytes })));
  const largestBuffer = largestOf([
    ...placed.map((p) => ({ name: `${p.name} (${p.gpuType} [${p.shape}])`, bytes: p.bytes })),
    staging,
    { name: `KV cache of one layer [${contextLength}, ${cfg.nKvHeads * cfg.headDim}]`, bytes: perBuffer },
    act.largest,
  ]);
  return {
    quant,
    contextLength,
    sequenceLength,
    weights: { bytes: weightTotal, byType, tensors: placed },
    kvCache: { bytes: kvBytes, perBuffer },
    activations: act,
    total: weightTotal + Math.max(staging.bytes, kvBytes + act.bytes),
    largestBuffer,
  };
}

/** The tensors a checkpoint of this configuration holds, all stored as `dtype` (presets, planning). */
export function checkpointTensors(cfg: LlamaConfig, dtype: StoredDtype): TensorShape[] {
  const q = cfg.nHeads * cfg.headDim;
  const kv = cfg.nKvHeads * cfg.headDim;
  const out: TensorShape[] = [{ name: 'token_embd.weight', shape: [cfg.vocabSize, cfg.dim], dtype }];
  const vec = (name: string, n: number) => out.push({ name, shape: [n], dtype: 'F32' });
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `blk.${l}.`;
    vec(`${p}attn_norm.weight`, cfg.dim);
    vec(`${p}ffn_norm.weight`, cfg.dim);
    if (cfg.qkvBias)
      for (const [n, size] of [
        ['q', q],
        ['k', kv],
        ['v', kv],
      ] as const)
        vec(`${p}attn_${n}.bias`, size);
    for (const [name, shape] of [
      ['attn_q', [q, cfg.dim]],
      ['attn_k', [kv, cfg.dim]],
      ['attn_v', [kv, cfg.dim]],
      ['attn_output', [cfg.dim, q]],
      ['ffn_gate', [cfg.hiddenDim, cfg.dim]],
      ['ffn_up', [cfg.hiddenDim, cfg.dim]],
      ['ffn_down', [cfg.dim, cfg.hiddenDim]],
    ] as const) {
      out.push({ name: `${p}${name}.weight`, shape: [...shape], dtype });
    }
  }
  vec('output_norm.weight', cfg.dim);
  if (!cfg.tiedEmbeddings) out.push({ name: 'output.weight', shape: [cfg.vocabSize, cfg.dim], dtype });
  return out;
}

const MIB = 2 ** 20;
const fmt = (bytes: number) => (bytes >= 10 * MIB ? `${(bytes / MIB).toFixed(0)} MiB` : `${bytes} bytes`);

/**
 * Throws a GpuLimitError naming the first limit the largest buffer exceeds (maxBufferSize, then
 * maxStorageBufferBindingSize: every buffer here is bound as storage), and how many other buffers exceed it.
 */
export function checkFits(estimate: MemoryEstimate, limits: Record<string, number>): void {
  const all: BufferNeed[] = [
    ...estimate.weights.tensors.flatMap((p) => [
      { name: `tensor ${p.name} (${p.gpuType} [${p.shape}])`, bytes: p.bytes },
      { name: `tensor ${p.name} while loading (${p.stored} staged for ${p.gpuType})`, bytes: p.stagingBytes },
    ]),
    { name: `the KV cache of one layer (${estimate.contextLength} positions)`, bytes: estimate.kvCache.perBuffer },
    { name: `activation ${estimate.activations.largest.name}`, bytes: estimate.activations.largest.bytes },
  ];
  for (const limit of ['maxBufferSize', 'maxStorageBufferBindingSize']) {
    const max = limits[limit];
    if (!(max > 0)) continue;
    const over = all.filter((b) => b.bytes > max).sort((a, b) => b.bytes - a.bytes);
    if (!over.length) continue;
    const more = over.length > 1 ? ` (and ${over.length - 1} other buffer${over.length > 2 ? 's' : ''})` : '';
    const hint = estimate.quant === 'q4_0' ? 'A smaller model' : 'Quantizing on load (q8_0 or q4_0), a smaller model';
    throw new GpuLimitError(
      `The model does not fit this GPU: ${over[0].name} needs ${fmt(over[0].bytes)}, over the ` +
        `adapter's ${limit} of ${fmt(max)}${more}. ${hint} or a GPU with larger limits would.`,
    );
  }
}

/** The check loadModel runs before uploading: only what loading allocates (weights and staging). */
export function checkWeightsFit(
  cfg: LlamaConfig,
  tensors: TensorShape[],
  quant: BaseQuant | undefined,
  limits: Record<string, number>,
): void {
  checkFits(estimateMemory(cfg, tensors, { quant, contextLength: 0, sequenceLength: 0 }), limits);
}

/** f32 staged per chunk of rows while (re)quantizing on load: big embeddings exceed browsers' 128 MiB bindings. */
export const QUANTIZE_CHUNK_BYTES = 32 * 2 ** 20;

/** Rows per chunk: even, so every chunk's Q8_0/Q4_0 bytes (34- and 18-byte blocks) start on a u32 boundary. */
export function quantizeChunkRows(cols: number, chunkBytes = QUANTIZE_CHUNK_BYTES): number {
  return Math.max(2, Math.floor(chunkBytes / (4 * cols)) & ~1);
}

const BYTES_PER_VALUE: Partial<Record<StoredDtype, number>> = { F32: 4, F16: 2, BF16: 2 };

export interface PresetSizes {
  /** Weights as stored in the repository (tokenizer files add a few MB). */
  downloadBytes: number;
  /** On the GPU with this quantization, for a default context (see estimateMemory). */
  gpu: MemoryEstimate;
}

export function presetSizes(preset: ModelPreset, quant: BaseQuant = 'keep'): PresetSizes {
  const perValue = BYTES_PER_VALUE[preset.storedDtype];
  if (!perValue) throw new Error(`preset ${preset.id}: no size rule for ${preset.storedDtype}`);
  return {
    downloadBytes: parameterCount(preset.config) * perValue,
    gpu: estimateMemory(preset.config, checkpointTensors(preset.config, preset.storedDtype), { quant }),
  };
}
