// Tokenizer KVs (tokenizer.ggml.*) for a merged GGUF whose base was not a GGUF (a GGUF base's own KVs are
// copied instead), as llama.cpp's converters write them:
//   - llama2.c tokenizer.bin → SentencePiece "llama" vocabulary (convert-llama2c-to-ggml): pieces with ' ' as
//     '▁', their scores, <unk>/<s>/</s> at 0/1/2, <0xNN> pieces typed as bytes.
//   - Hugging Face byte-level BPE tokenizer.json (SmolLM2, Llama 3, Qwen2) → "gpt2" vocabulary
//     (convert_hf_to_gguf.py's _set_vocab_gpt2): tokens by id padded to the model's vocabulary, merges, token
//     types (special added tokens are control tokens), the pre-tokenizer recognised from tokenizer.json's own
//     regex (llama.cpp recognises it by hashing sample encodings; ours reads the pattern it would hash).
// Other tokenizer.json kinds (SentencePiece-style BPE with byte fallback, Unigram, WordPiece) are refused with
// a pointer to merged-safetensors + llama.cpp's convert_hf_to_gguf.py, which reads tokenizer.model.

import type { LlamaConfig } from '../model/config';
import type { GgufEntry } from '../io/ggufWriter';
import { HfTokenizer } from '../io/hfTokenizer';
import type { Llama2cTokenizer } from '../io/llama2c';
import type { Tokenizer } from '../io/tokenizer';

/** llama.cpp's llama_token_type. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;
const BYTE = 6;

export class VocabConversionError extends Error {
  override name = 'VocabConversionError';
}

const u32 = (key: string, value: number): GgufEntry => ({ key, type: 'u32', value });

export function llama2cVocabKvs(tok: Llama2cTokenizer): GgufEntry[] {
  const tokens = tok.pieces.map((p, i) =>
    i === 0 ? '<unk>' : i === 1 ? '<s>' : i === 2 ? '</s>' : p.replace(/ /g, '\u2581'),
  );
  const types = tokens.map((t, i) =>
    i === 0 ? UNKNOWN : i < 3 ? CONTROL : /^<0x[0-9A-F]{2}>$/.test(t) ? BYTE : NORMAL,
  );
  return [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
    { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: tokens },
    { key: 'tokenizer.ggml.scores', type: 'array', itemType: 'f32', value: Array.from(tok.scores) },
    { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: types },
    u32('tokenizer.ggml.unknown_token_id', 0),
    u32('tokenizer.ggml.bos_token_id', 1),
    u32('tokenizer.ggml.eos_token_id', 2),
  ];
}

type Json = Record<string, unknown>;

/** Every pre-tokenizer step of tokenizer.json, flattened out of Sequences. */
function preSteps(pre: unknown): Json[] {
  if (!pre || typeof pre !== 'object') return [];
  const p = pre as Json;
  return p.type === 'Sequence' ? (p.pretokenizers as unknown[]).flatMap(preSteps) : [p];
}

/** llama.cpp's tokenizer.ggml.pre for a byte-level pre-tokenizer, or null when we do not know it. */
export function bpePreTokenizer(pre: unknown): string | null {
  const steps = preSteps(pre);
  const regex = steps
    .map((s) => (s.type === 'Split' ? String((s.pattern as Json | undefined)?.Regex ?? '') : ''))
    .join('');
  const types = steps.map((s) => s.type).join(',');
  if (regex.includes('\\p{N}{1,3}')) return 'llama-bpe';
  if (regex.includes('\\p{N}|')) return 'qwen2';
  if (types === 'Digits,ByteLevel' && steps[0].individual_digits === true) return 'smollm';
  // llama.cpp spells GPT-2's own pre-tokenizer "gpt-2" (it refuses "gpt2").
  if (types === 'ByteLevel' && steps[0].use_regex !== false) return 'gpt-2';
  return null;
}

export function hfVocabKvs(tokenizerJson: Json, cfg: LlamaConfig, tokenizer: Tokenizer | null): GgufEntry[] {
  const model = tokenizerJson.model as Json | undefined;
  const byteLevel = preSteps(tokenizerJson.pre_tokenizer).some((s) => s.type === 'ByteLevel');
  if (model?.type !== 'BPE' || !byteLevel) {
    throw new VocabConversionError(
      `tokenizer.json is a ${String(model?.type)} tokenizer without byte-level pre-tokenization; ` +
        "merged-gguf converts byte-level BPE only. Export merged-safetensors and convert it with llama.cpp's convert_hf_to_gguf.py.",
    );
  }
  const pre = bpePreTokenizer(tokenizerJson.pre_tokenizer);
  if (pre === null) {
    throw new VocabConversionError(
      "tokenizer.json's pre-tokenizer is not one llama.cpp knows by name (gpt-2, llama-bpe, qwen2, " +
        "smollm); export merged-safetensors and convert it with llama.cpp's convert_hf_to_gguf.py.",
    );
  }
  const tokens: (string | null)[] = new Array(cfg.vocabSize).fill(null);
  const types = new Array<number>(cfg.vocabSize).fill(NORMAL);
  const place = (text: string, id: number, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= cfg.vocabSize) {
      throw new VocabConversionError(
        `tokenizer.json: token ${JSON.stringify(text)} has id ${id}, outside the model's ${cfg.vocabSize}`,
      );
    }
    tokens[id] = text;
    types[id] = type;
  };
  for (const [text, id] of Object.entries(model.vocab as Record<string, number>)) place(text, id, NORMAL);
  for (const t of (tokenizerJson.added_tokens ?? []) as { id: number; content: string; special: boolean }[]) {
    place(t.content, t.id, t.special ? CONTROL : USER_DEFINED);
  }
  // Embedding rows beyond the tokenizer (vocabularies padded to a round size) get placeholder tokens.
  const list = tokens.map((t, i) => t ?? `[PAD${i}]`);
  tokens.forEach((t, i) => {
    if (t === null) types[i] = UNUSED;
  });
  const merges = (model.merges as (string | [string, string])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const entries: GgufEntry[] = [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: 'string', value: pre },
    { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: list },
    { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: types },
    { key: 'tokenizer.ggml.merges', type: 'array', itemType: 'string', value: merges },
  ];
  if (tokenizer?.bosId != null) entries.push(u32('tokenizer.ggml.bos_token_id', tokenizer.bosId));
  if (tokenizer?.eosId != null) entries.push(u32('tokenizer.ggml.eos_token_id', tokenizer.eosId));
  if (tokenizer instanceof HfTokenizer)
    entries.push({ key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: tokenizer.addBos });
  return entries;
}
