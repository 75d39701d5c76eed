// The merged model as a GGUF file llama.cpp loads: base + adapter (merge.ts) with matrices in F32, F16 or
// Q8_0 and vectors (norms, biases, rope_freqs) in F32, as llama.cpp's converter stores them. Metadata: a
// GGUF base's KVs are copied with their types (only general.file_type changes, and the alignment is the
// writer's); other bases get the architecture KVs from their configuration and tokenizer KVs converted by
// ggufVocab.ts. Q/K rows end in llama.cpp's order for the architecture.

import type { LlamaConfig } from '../model/config';
import type { ModelDescription, ModelFiles } from '../model/load';
import type { ByteSource } from '../io/byteSource';
import type { GgmlTypeName } from '../io/ggml';
import { type GgufEntry, type GgufTensorData, writeGguf } from '../io/ggufWriter';
import { readLlama2cTokenizer } from '../io/llama2c';
import { readGgufMetadata } from './ggufMetadata';
import { hfVocabKvs, llama2cVocabKvs } from './ggufVocab';
import { type MergedTensor, mergedTensors } from './merge';
import type { PlainLora } from './plainLora';
import { ggufPairing } from './rowOrder';
import { encodeTensor } from './tensorCodec';

export type MergedGgufType = Extract<GgmlTypeName, 'F32' | 'F16' | 'Q8_0'>;

/** llama.cpp's llama_ftype for general.file_type. */
const FILE_TYPE: Record<MergedGgufType, number> = { F32: 0, F16: 1, Q8_0: 7 };

const REPLACED_KEYS = new Set(['general.alignment', 'general.file_type']);

function architectureKvs(cfg: LlamaConfig, name: string): GgufEntry[] {
  const u32 = (key: string, value: number): GgufEntry => ({ key: `${cfg.arch}.${key}`, type: 'u32', value });
  const f32 = (key: string, value: number): GgufEntry => ({ key: `${cfg.arch}.${key}`, type: 'f32', value });
  return [
    { key: 'general.architecture', type: 'string', value: cfg.arch },
    { key: 'general.name', type: 'string', value: name },
    u32('context_length', cfg.contextLength),
    u32('embedding_length', cfg.dim),
    u32('block_count', cfg.nLayers),
    u32('feed_forward_length', cfg.hiddenDim),
    u32('attention.head_count', cfg.nHeads),
    u32('attention.head_count_kv', cfg.nKvHeads),
    u32('attention.key_length', cfg.headDim),
    u32('attention.value_length', cfg.headDim),
    u32('rope.dimension_count', cfg.headDim),
    f32('attention.layer_norm_rms_epsilon', cfg.normEps),
    f32('rope.freq_base', cfg.ropeTheta),
    u32('vocab_size', cfg.vocabSize),
  ];
}

async function readJson(src: ByteSource): Promise<Record<string, unknown>> {
  return JSON.parse(new TextDecoder().decode(await src.read(0, src.size)));
}

/** Metadata for the merged file: the GGUF base's own, or built from the configuration and tokenizer. */
async function metadata(base: ModelFiles, d: ModelDescription, notes: string[]): Promise<GgufEntry[]> {
  switch (base.kind) {
    case 'gguf': {
      const { entries, skipped } = await readGgufMetadata(base.file);
      if (skipped.length) notes.push(`GGUF keys with nested arrays were not copied: ${skipped.join(', ')}.`);
      return entries.filter((e) => !REPLACED_KEYS.has(e.key));
    }
    case 'llama2c': {
      if (!base.tokenizer)
        throw new Error(
          'merged-gguf from a llama2.c checkpoint needs its tokenizer.bin (llama.cpp needs a vocabulary).',
        );
      return [
        ...architectureKvs(d.config, d.name),
        ...llama2cVocabKvs(await readLlama2cTokenizer(base.tokenizer, d.config.vocabSize)),
      ];
    }
    case 'hf': {
      const tok = base.files.get('tokenizer.json');
      if (!tok)
        throw new Error(
          'merged-gguf from a Hugging Face folder needs its tokenizer.json (llama.cpp needs a vocabulary).',
        );
      const template: GgufEntry[] = d.chatTemplate
        ? [{ key: 'tokenizer.chat_template', type: 'string', value: d.chatTemplate }]
        : [];
      return [
        ...architectureKvs(d.config, d.name),
        ...hfVocabKvs(await readJson(tok), d.config, d.tokenizer),
        ...template,
      ];
    }
  }
}

/** One tensor in the output type: copied when nothing changed and the type is kept, else decoded and encoded. */
async function outputTensor(t: MergedTensor, type: MergedGgufType, fallbacks: string[]): Promise<GgufTensorData> {
  const cols = t.shape[t.shape.length - 1];
  let want: MergedGgufType = t.shape.length === 1 ? 'F32' : type;
  if (want === 'Q8_0' && cols % 32) {
    want = 'F16';
    fallbacks.push(t.name);
  }
  if (!t.changed && t.stored === want) return { name: t.name, type: want, shape: t.shape, data: await t.bytes() };
  return { name: t.name, type: want, shape: t.shape, data: encodeTensor(await t.values(), want, cols) };
}

/** The merged GGUF's parts; `notes` receives what the user should know (F16 fallbacks, keys not copied). */
export async function mergedGgufFile(
  base: ModelFiles,
  d: ModelDescription,
  lora: PlainLora | null,
  type: MergedGgufType,
  notes: string[],
): Promise<Uint8Array[]> {
  const entries = await metadata(base, d, notes);
  entries.push({ key: 'general.file_type', type: 'u32', value: FILE_TYPE[type] });
  const fallbacks: string[] = [];
  const tensors: GgufTensorData[] = [];
  for (const t of mergedTensors(d, lora, ggufPairing(d.config.arch)))
    tensors.push(await outputTensor(t, type, fallbacks));
  if (fallbacks.length) {
    notes.push(
      `${fallbacks.length} matrices have rows that are not whole 32-value blocks and were written as F16 instead of ` +
        `Q8_0: ${fallbacks.join(', ')}.`,
    );
  }
  return writeGguf(entries, tensors);
}
