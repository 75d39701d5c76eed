// Random LLaMA checkpoints written as real GGUF files, for tests that compare our loader and forward pass
// with llama.cpp and with the float64 reference (src/reference/llama.ts). The host weights returned are the
// exact bytes written, so the reference sees precisely what both engines load.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GgufEntry, GgufTensorData } from '../../src/io/ggufWriter';
import { concatParts, writeGguf } from '../../src/io/ggufWriter';
import type { LlamaConfig } from '../../src/model/config';
import type { WeightType } from '../../src/ops/weight';
import { f32ToF16 } from '../../src/io/f16';
import type { HostWeight } from '../../src/reference/linear';
import { weightRef } from '../../src/reference/linear';
import type { LlamaRefLayer, LlamaRefWeights } from '../../src/reference/llama';
import { QK, type QuantType, quantize } from '../../src/io/quant';
import { rng } from './random';

export type GgufMatrixType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0';

export interface RandomModelSpec {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  normEps: number;
  ropeTheta: number;
  tied: boolean;
  /** Storage type of every matrix (embedding and head included); norms are always F32. */
  type: GgufMatrixType;
  seed: number;
}

export interface RandomModel {
  config: LlamaConfig;
  weights: LlamaRefWeights;
}

/** Special tokens of the minimal SentencePiece vocabulary, as llama.cpp's 'llama' tokenizer expects them. */
export const UNK = 0;
export const BOS = 1;
export const EOS = 2;
const BYTE_TOKENS = 256;
/** <unk>, <s>, </s> and the 256 byte pieces come before any ordinary piece. */
export const MIN_VOCAB = 3 + BYTE_TOKENS;

/**
 * The configuration a llama-arch GGUF of this spec describes (Q/K rows in llama.cpp's adjacent pairing;
 * eps and θ as the f32 values the file holds).
 */
export function specConfig(s: RandomModelSpec): LlamaConfig {
  return {
    arch: 'llama',
    dim: s.dim,
    hiddenDim: s.hiddenDim,
    nLayers: s.nLayers,
    nHeads: s.nHeads,
    nKvHeads: s.nKvHeads,
    headDim: s.dim / s.nHeads,
    vocabSize: s.vocabSize,
    normEps: Math.fround(s.normEps),
    ropeTheta: Math.fround(s.ropeTheta),
    ropePairing: 'adjacent',
    ropeScaling: null,
    tiedEmbeddings: s.tied,
    contextLength: 128,
    qkvBias: false,
  };
}

function gaussian(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** Float32 values → a HostWeight of the requested storage type (rounded / quantized exactly as GGML does). */
export function encodeWeight(values: Float32Array, rows: number, cols: number, type: GgufMatrixType): HostWeight {
  const t = type.toLowerCase() as WeightType;
  switch (t) {
    case 'f32':
      return { type: t, rows, cols, bytes: new Uint8Array(values.slice().buffer) };
    case 'f16':
      return { type: t, rows, cols, bytes: new Uint8Array(Uint16Array.from(values, f32ToF16).buffer) };
    case 'bf16':
      return { type: t, rows, cols, bytes: new Uint8Array(bf16Bits(values).buffer) };
    default:
      return { type: t, rows, cols, bytes: quantize(t, values) };
  }
}

/**
 * Random weights scaled so activations and logits stay O(1): matrices N(0, 1/in) (unit gain per projection),
 * embeddings N(0, 1) (the head then gives logits of std ≈ 1 after the final norm, far from degenerate),
 * norm weights 1 + N(0, 0.1²) so a wrong norm weight shows.
 */
export function randomLlama(s: RandomModelSpec): RandomModel {
  const config = specConfig(s);
  if (s.vocabSize < MIN_VOCAB) throw new Error(`vocabSize must be ≥ ${MIN_VOCAB} (special and byte tokens)`);
  if (s.type.startsWith('Q') && (s.dim % QK || s.hiddenDim % QK))
    throw new Error(`${s.type} rows need multiples of ${QK}`);
  const normal = gaussian(rng(s.seed));
  const matrix = (rows: number, cols: number, std = 1 / Math.sqrt(cols)) =>
    encodeWeight(
      Float32Array.from({ length: rows * cols }, () => std * normal()),
      rows,
      cols,
      s.type,
    );
  const norm = () => Float32Array.from({ length: s.dim }, () => 1 + 0.1 * normal());
  const { dim, hiddenDim, headDim } = config;
  const q = s.nHeads * headDim;
  const kv = s.nKvHeads * headDim;
  const embed = matrix(s.vocabSize, dim, 1);
  const layers: LlamaRefLayer[] = Array.from({ length: s.nLayers }, () => ({
    attnNorm: norm(),
    wq: matrix(q, dim),
    wk: matrix(kv, dim),
    wv: matrix(kv, dim),
    wo: matrix(dim, q),
    ffnNorm: norm(),
    gate: matrix(hiddenDim, dim),
    up: matrix(hiddenDim, dim),
    down: matrix(dim, hiddenDim),
  }));
  const outNorm = norm();
  const head = s.tied ? embed : matrix(s.vocabSize, dim);
  return { config, weights: { embed, layers, outNorm, head } };
}

/**
 * The weights as loadWeights(…, { quant }) leaves them when given F32/F16 matrices: every matrix whose rows are
 * whole blocks quantized with ggml's reference encoder (which the GPU quantizer matches byte for byte).
 */
export function quantizeWeights(w: LlamaRefWeights, type: QuantType): LlamaRefWeights {
  const cache = new Map<HostWeight, HostWeight>();
  const q = (m: HostWeight): HostWeight => {
    if (m.cols % QK) return m;
    const done = cache.get(m) ?? { type, rows: m.rows, cols: m.cols, bytes: quantize(type, weightRef(m)) };
    cache.set(m, done);
    return done;
  };
  return {
    ...w,
    embed: q(w.embed),
    head: q(w.head),
    layers: w.layers.map((l) => ({
      ...l,
      wq: q(l.wq),
      wk: q(l.wk),
      wv: q(l.wv),
      wo: q(l.wo),
      gate: q(l.gate),
      up: q(l.up),
      down: q(l.down),
    })),
  };
}

/**
 * A minimal valid llama-SPM vocabulary: <unk>, <s>, </s>, the byte pieces <0x00>..<0xFF> (llama.cpp looks up
 * <0x0A> for its newline token) and distinct filler pieces up to vocabSize.
 */
function spmVocabulary(vocabSize: number): GgufEntry[] {
  const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: BYTE_TOKENS }, (_, b) => hex(b))];
  while (tokens.length < vocabSize) tokens.push(`\u2581w${tokens.length}`);
  // token_type (llama.cpp's llama_token_type): 2 unknown, 3 control (<s>, </s>), 6 byte, 1 normal.
  const types = tokens.map((_, i) => (i === UNK ? 2 : i < 3 ? 3 : i < MIN_VOCAB ? 6 : 1));
  return [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: tokens },
    {
      key: 'tokenizer.ggml.scores',
      type: 'array',
      itemType: 'f32',
      value: tokens.map((_, i) => (i < MIN_VOCAB ? 0 : -i)),
    },
    { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: types },
    { key: 'tokenizer.ggml.unknown_token_id', type: 'u32', value: UNK },
    { key: 'tokenizer.ggml.bos_token_id', type: 'u32', value: BOS },
    { key: 'tokenizer.ggml.eos_token_id', type: 'u32', value: EOS },
  ];
}

/** The model as a llama-arch GGUF v3 file at `path` (GGUF tensor names, metadata llama.cpp needs to load it). */
export function writeLlamaGguf(path: string, { config: c, weights: w }: RandomModel): void {
  const u32 = (key: string, value: number): GgufEntry => ({ key: `llama.${key}`, type: 'u32', value });
  const f32 = (key: string, value: number): GgufEntry => ({ key: `llama.${key}`, type: 'f32', value });
  const entries: GgufEntry[] = [
    { key: 'general.architecture', type: 'string', value: 'llama' },
    { key: 'general.name', type: 'string', value: 'random-llama' },
    u32('context_length', c.contextLength),
    u32('embedding_length', c.dim),
    u32('block_count', c.nLayers),
    u32('feed_forward_length', c.hiddenDim),
    u32('attention.head_count', c.nHeads),
    u32('attention.head_count_kv', c.nKvHeads),
    u32('rope.dimension_count', c.headDim),
    f32('attention.layer_norm_rms_epsilon', c.normEps),
    f32('rope.freq_base', c.ropeTheta),
    u32('vocab_size', c.vocabSize),
    ...spmVocabulary(c.vocabSize),
  ];
  const mat = (name: string, m: HostWeight): GgufTensorData => ({
    name,
    type: m.type.toUpperCase() as GgufMatrixType,
    shape: [m.rows, m.cols],
    data: m.bytes,
  });
  const vec = (name: string, v: ArrayLike<number>): GgufTensorData => ({
    name,
    type: 'F32',
    shape: [v.length],
    data: new Uint8Array(Float32Array.from(v).buffer),
  });
  const tensors: GgufTensorData[] = [mat('token_embd.weight', w.embed)];
  w.layers.forEach((l, i) => {
    const p = `blk.${i}.`;
    tensors.push(
      vec(`${p}attn_norm.weight`, l.attnNorm),
      mat(`${p}attn_q.weight`, l.wq),
      mat(`${p}attn_k.weight`, l.wk),
      mat(`${p}attn_v.weight`, l.wv),
      mat(`${p}attn_output.weight`, l.wo),
      vec(`${p}ffn_norm.weight`, l.ffnNorm),
      mat(`${p}ffn_gate.weight`, l.gate),
      mat(`${p}ffn_up.weight`, l.up),
      mat(`${p}ffn_down.weight`, l.down),
    );
  });
  tensors.push(vec('output_norm.weight', w.outNorm));
  if (!c.tiedEmbeddings) tensors.push(mat('output.weight', w.head));
  writeFileSync(path, concatParts(writeGguf(entries, tensors)));
}

/** A fresh temporary folder and a function that removes it. */
export function tempDir(prefix = 'metalora-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** randomLlama(spec) written to `<dir>/<name>.gguf`; returns the path with the model. */
export function writeRandomGguf(dir: string, name: string, spec: RandomModelSpec): RandomModel & { path: string } {
  const model = randomLlama(spec);
  const path = join(dir, `${name}.gguf`);
  writeLlamaGguf(path, model);
  return { ...model, path };
}

/** bfloat16 bits of each value, rounded to nearest even (as PyTorch's .bfloat16() rounds finite values). */
export function bf16Bits(values: Float32Array): Uint16Array {
  const bits = new Uint32Array(values.slice().buffer);
  return Uint16Array.from(bits, (b) => (b + 0x7fff + ((b >> 16) & 1)) >>> 16);
}
