// llama2.c checkpoints (karpathy/llama2.c, "v0" format): a 7×int32 header (dim, hidden_dim, n_layers, n_heads,
// n_kv_heads, vocab_size, seq_len; a negative vocab_size means an untied classifier) then f32 tensors in a fixed
// order, each stacked over layers. Q/K rows are natively in adjacent RoPE pairing. Tensors are named as in GGUF.
// tokenizer.bin: int32 max_token_length, then per token: f32 score, int32 length, bytes.

import type { ByteSource } from './byteSource';

export class Llama2cError extends Error {
  override name = 'Llama2cError';
}

export interface Llama2cTensor {
  name: string;
  shape: number[];
  offset: number;
  byteLength: number;
}

/** The header's sizes (src/model/config.ts configFromLlama2c turns them into a model configuration). */
export interface Llama2cHeader {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** A positive vocab_size in the header: the classifier is the embedding. */
  tiedEmbeddings: boolean;
}

export interface Llama2cFile {
  header: Llama2cHeader;
  tensors: Llama2cTensor[];
}

export async function readLlama2c(src: ByteSource): Promise<Llama2cFile> {
  if (src.size < 28) throw new Llama2cError(`${src.name}: too short for a llama2.c checkpoint (${src.size} bytes).`);
  const h = new Int32Array((await src.read(0, 28)).slice().buffer);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h;
  const vocab = Math.abs(vocabRaw);
  const sane = (v: number) => v > 0 && v < 1 << 20;
  if (![dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen].every(sane) || dim % nHeads || nHeads % nKvHeads) {
    throw new Llama2cError(
      `${src.name}: header [${Array.from(h)}] is not a llama2.c v0 checkpoint (or uses a newer ` +
        'format version, which is not supported).',
    );
  }
  const headDim = dim / nHeads;
  const kvDim = nKvHeads * headDim;
  // The size the header implies, checked before the per-layer list is built: a lying header can claim a
  // million layers, and listing 9 million tensors only to refuse the file would take half a minute.
  const perLayerFloats = 2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hiddenDim * dim;
  const expected = 28 + 4 * (vocab * dim * (vocabRaw < 0 ? 2 : 1) + nLayers * perLayerFloats + dim + seqLen * headDim);
  if (expected !== src.size) {
    throw new Llama2cError(
      `${src.name}: the header implies ${expected} bytes but the file has ${src.size} ` +
        '(truncated, or not a llama2.c v0 checkpoint).',
    );
  }
  const tensors: Llama2cTensor[] = [];
  let offset = 28;
  const add = (name: string, shape: number[]) => {
    const byteLength = 4 * shape.reduce((a, b) => a * b, 1);
    tensors.push({ name, shape, offset, byteLength });
    offset += byteLength;
  };
  // Stacked tensors are split into per-layer views of the same bytes.
  const perLayer = (gguf: string, shape: number[]) => {
    for (let l = 0; l < nLayers; l++) add(`blk.${l}.${gguf}.weight`, shape);
  };
  add('token_embd.weight', [vocab, dim]);
  perLayer('attn_norm', [dim]);
  perLayer('attn_q', [dim, dim]);
  perLayer('attn_k', [kvDim, dim]);
  perLayer('attn_v', [kvDim, dim]);
  perLayer('attn_output', [dim, dim]);
  perLayer('ffn_norm', [dim]);
  perLayer('ffn_gate', [hiddenDim, dim]); // w1
  perLayer('ffn_down', [dim, hiddenDim]); // w2
  perLayer('ffn_up', [hiddenDim, dim]); // w3
  add('output_norm.weight', [dim]);
  offset += 2 * 4 * seqLen * (headDim / 2); // freq_cis_real/imag: unused, RoPE is computed
  if (vocabRaw < 0) add('output.weight', [vocab, dim]);
  if (offset !== expected) throw new Error(`llama2.c layout: listed ${offset} bytes, computed ${expected}`);
  const header = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: vocab, seqLen, tiedEmbeddings: vocabRaw > 0 };
  return { header, tensors };
}

export interface Llama2cTokenizer {
  maxTokenLength: number;
  pieces: string[];
  scores: Float32Array;
}

/** Reads tokenizer.bin for a vocabulary of `vocabSize` pieces. */
export async function readLlama2cTokenizer(src: ByteSource, vocabSize: number): Promise<Llama2cTokenizer> {
  const bytes = await src.read(0, src.size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  let o = 0;
  const need = (n: number) => {
    if (o + n > bytes.length)
      throw new Llama2cError(`${src.name}: truncated tokenizer (piece ${pieces.length} of ${vocabSize}).`);
  };
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize);
  need(4);
  const maxTokenLength = view.getInt32(0, true);
  o = 4;
  for (let i = 0; i < vocabSize; i++) {
    need(8);
    scores[i] = view.getFloat32(o, true);
    const len = view.getInt32(o + 4, true);
    o += 8;
    if (len < 0 || len > maxTokenLength)
      throw new Llama2cError(`${src.name}: piece ${i} has impossible length ${len}.`);
    need(len);
    pieces.push(decoder.decode(bytes.subarray(o, o + len)));
    o += len;
  }
  return { maxTokenLength, pieces, scores };
}
