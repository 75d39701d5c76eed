// Random LLaMA / Qwen2 checkpoints in real file layouts, built in memory: a Hugging Face folder (config.json,
// model.safetensors or shards with their index, a small byte-level BPE tokenizer.json with its
// tokenizer_config.json and chat template) and the same weights as a llama-arch GGUF whose Q/K rows are
// permuted the way llama.cpp's convert_hf_to_gguf.py does. Weights are kept in HF naming and layout.

import { type ByteSource, memorySource } from '../../src/io/byteSource';
import { concatParts, writeGguf } from '../../src/io/ggufWriter';
import { type SafetensorsDtype, writeSafetensors } from '../../src/io/safetensors';
import { f16ToF32, f32ToF16 } from '../../src/io/f16';
import { randomF32 } from './random';

export type FloatDtype = 'F32' | 'F16' | 'BF16';

export interface RandomModelSpec {
  modelType: 'llama' | 'qwen2';
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  tied: boolean;
  /** Llama-3 rope_scaling, written to config.json (HF) and as rope_freqs.weight (GGUF). */
  ropeScaling?: { factor: number; lowFreqFactor: number; highFreqFactor: number; originalContextLength: number };
}

/** HF tensor name → row-major shape and f32 values. */
export type HfWeights = Map<string, { shape: number[]; values: Float32Array }>;

/** Exactly representable in f32, so config.json and GGUF metadata give the model the same epsilon. */
export const NORM_EPS = 2 ** -17;
export const ROPE_THETA = 10000;

/** Random weights at scales that keep activations O(1): matrices U(±1/√in), norms 1 ± 0.25, biases U(±1). */
export function randomHfWeights(s: RandomModelSpec, random: () => number): HfWeights {
  const w: HfWeights = new Map();
  const hd = s.dim / s.nHeads;
  const mat = (name: string, rows: number, cols: number, scale = 1 / Math.sqrt(cols)) =>
    w.set(name, { shape: [rows, cols], values: randomF32(rows * cols, random).map((v) => v * scale) });
  const vec = (name: string, n: number, base: number, scale: number) =>
    w.set(name, { shape: [n], values: randomF32(n, random).map((v) => base + v * scale) });
  mat('model.embed_tokens.weight', s.vocabSize, s.dim, 1);
  for (let l = 0; l < s.nLayers; l++) {
    const p = `model.layers.${l}.`;
    vec(`${p}input_layernorm.weight`, s.dim, 1, 0.25);
    mat(`${p}self_attn.q_proj.weight`, s.nHeads * hd, s.dim);
    mat(`${p}self_attn.k_proj.weight`, s.nKvHeads * hd, s.dim);
    mat(`${p}self_attn.v_proj.weight`, s.nKvHeads * hd, s.dim);
    if (s.modelType === 'qwen2') {
      vec(`${p}self_attn.q_proj.bias`, s.nHeads * hd, 0, 1);
      vec(`${p}self_attn.k_proj.bias`, s.nKvHeads * hd, 0, 1);
      vec(`${p}self_attn.v_proj.bias`, s.nKvHeads * hd, 0, 1);
    }
    mat(`${p}self_attn.o_proj.weight`, s.dim, s.nHeads * hd);
    vec(`${p}post_attention_layernorm.weight`, s.dim, 1, 0.25);
    mat(`${p}mlp.gate_proj.weight`, s.hiddenDim, s.dim);
    mat(`${p}mlp.up_proj.weight`, s.hiddenDim, s.dim);
    mat(`${p}mlp.down_proj.weight`, s.dim, s.hiddenDim);
  }
  vec('model.norm.weight', s.dim, 1, 0.25);
  if (!s.tied) mat('lm_head.weight', s.vocabSize, s.dim);
  return w;
}

/** bf16 bits of an f32 value, round to nearest even (as torch's .to(bfloat16)); the values here are finite. */
function f32ToBf16(v: number): number {
  const bits = new Uint32Array(Float32Array.of(v).buffer)[0];
  return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
}

/** The bytes of `values` stored as `dtype` (little-endian). */
export function encodeFloats(values: Float32Array, dtype: FloatDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.slice().buffer);
  return new Uint8Array(Uint16Array.from(values, dtype === 'F16' ? f32ToF16 : f32ToBf16).buffer);
}

/** The values a reader recovers from `dtype` storage (for references that must see what the GPU sees). */
export function storedValues(values: Float32Array, dtype: FloatDtype): Float32Array {
  if (dtype === 'F32') return values;
  if (dtype === 'F16') return Float32Array.from(values, (v) => f16ToF32(f32ToF16(v)));
  return Float32Array.from(values, (v) => new Float32Array(new Uint32Array([f32ToBf16(v) << 16]).buffer)[0]);
}

/** Norm weights stay F32 in every layout (as llama.cpp's converter keeps 1-D tensors in f32). */
const storedAs = (shape: number[], dtype: FloatDtype): FloatDtype => (shape.length === 1 ? 'F32' : dtype);

export function hfConfigJson(s: RandomModelSpec, tokenizer: { bosId: number; eosId: number }): Record<string, unknown> {
  const r = s.ropeScaling;
  return {
    architectures: [s.modelType === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: s.modelType,
    hidden_size: s.dim,
    intermediate_size: s.hiddenDim,
    num_hidden_layers: s.nLayers,
    num_attention_heads: s.nHeads,
    num_key_value_heads: s.nKvHeads,
    vocab_size: s.vocabSize,
    rms_norm_eps: NORM_EPS,
    rope_theta: ROPE_THETA,
    max_position_embeddings: 64,
    hidden_act: 'silu',
    tie_word_embeddings: s.tied,
    bos_token_id: tokenizer.bosId,
    eos_token_id: tokenizer.eosId,
    torch_dtype: 'float32',
    ...(r
      ? {
          rope_scaling: {
            rope_type: 'llama3',
            factor: r.factor,
            low_freq_factor: r.lowFreqFactor,
            high_freq_factor: r.highFreqFactor,
            original_max_position_embeddings: r.originalContextLength,
          },
        }
      : {}),
  };
}

const json = (v: unknown, name: string) => memorySource(new TextEncoder().encode(JSON.stringify(v)), name);

/**
 * An HF folder as openModelPath would present it. `shards` > 1 splits the tensors round-robin into
 * model-0000i-of-0000n.safetensors files with model.safetensors.index.json.
 */
export function hfFolder(s: RandomModelSpec, w: HfWeights, dtype: FloatDtype, shards = 1): Map<string, ByteSource> {
  const tok = tinyTokenizer();
  const files = new Map<string, ByteSource>([
    ['config.json', json(hfConfigJson(s, tok), 'config.json')],
    ['tokenizer.json', json(tok.tokenizerJson, 'tokenizer.json')],
    ['tokenizer_config.json', json(tok.tokenizerConfig, 'tokenizer_config.json')],
  ]);
  const names = [...w.keys()];
  const shardName = (i: number) =>
    shards === 1
      ? 'model.safetensors'
      : `model-${String(i + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
  const weightMap: Record<string, string> = {};
  for (let i = 0; i < shards; i++) {
    const mine = names.filter((_, k) => k % shards === i);
    mine.forEach((n) => (weightMap[n] = shardName(i)));
    const parts = writeSafetensors(
      mine.map((name) => {
        const { shape, values } = w.get(name)!;
        const d = storedAs(shape, dtype);
        return { name, shape, dtype: d as SafetensorsDtype, data: encodeFloats(values, d) };
      }),
      { format: 'pt' },
    );
    files.set(shardName(i), memorySource(concatParts(parts), shardName(i)));
  }
  if (shards > 1)
    files.set('model.safetensors.index.json', json({ metadata: {}, weight_map: weightMap }, 'index.json'));
  return files;
}

/**
 * convert_hf_to_gguf.py's permute for llama-arch Q/K: per head, w.reshape(n_head, 2, d/2, cols)
 * .swapaxes(1, 2), i.e. GGUF row 2j + s of a head is HF row s·d/2 + j, so HF's pairs (j, j + d/2) become
 * adjacent (2j, 2j + 1).
 */
export function permuteQK(values: Float32Array, nHead: number, rows: number, cols: number): Float32Array {
  const d = rows / nHead;
  const out = new Float32Array(values.length);
  for (let h = 0; h < nHead; h++) {
    for (let j = 0; j < d / 2; j++) {
      for (let s = 0; s < 2; s++) {
        const from = (h * d + s * (d / 2) + j) * cols;
        out.set(values.subarray(from, from + cols), (h * d + 2 * j + s) * cols);
      }
    }
  }
  return out;
}

const GGUF_NAMES: [RegExp, string][] = [
  [/^model\.embed_tokens\.weight$/, 'token_embd.weight'],
  [/^model\.norm\.weight$/, 'output_norm.weight'],
  [/^lm_head\.weight$/, 'output.weight'],
  [/^model\.layers\.(\d+)\.input_layernorm\.weight$/, 'blk.$1.attn_norm.weight'],
  [/^model\.layers\.(\d+)\.post_attention_layernorm\.weight$/, 'blk.$1.ffn_norm.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.([qkv])_proj\.weight$/, 'blk.$1.attn_$2.weight'],
  [/^model\.layers\.(\d+)\.self_attn\.o_proj\.weight$/, 'blk.$1.attn_output.weight'],
  [/^model\.layers\.(\d+)\.mlp\.(gate|up|down)_proj\.weight$/, 'blk.$1.ffn_$2.weight'],
];

/** The same llama-arch model as a GGUF file, written independently of src/model/formats/hf.ts's mapping. */
export function llamaGguf(s: RandomModelSpec, w: HfWeights, dtype: FloatDtype, freqFactors?: Float32Array): ByteSource {
  if (s.modelType !== 'llama') throw new Error('llamaGguf writes llama-arch files (Qwen2 GGUFs keep HF pairing).');
  const hd = s.dim / s.nHeads;
  const tensors = [...w].map(([hfName, { shape, values }]) => {
    const rule = GGUF_NAMES.find(([re]) => re.test(hfName));
    if (!rule) throw new Error(`no GGUF name for ${hfName}`);
    const name = hfName.replace(rule[0], rule[1]);
    const heads = /attn_q\./.test(name) ? s.nHeads : /attn_k\./.test(name) ? s.nKvHeads : 0;
    const v = heads ? permuteQK(values, heads, shape[0], shape[1]) : values;
    const d = storedAs(shape, dtype);
    return { name, type: d, shape, data: encodeFloats(v, d) };
  });
  if (freqFactors)
    tensors.push({ name: 'rope_freqs.weight', type: 'F32', shape: [hd / 2], data: encodeFloats(freqFactors, 'F32') });
  const u32 = (key: string, value: number) => ({ key: `llama.${key}`, type: 'u32' as const, value });
  const parts = writeGguf(
    [
      { key: 'general.architecture', type: 'string', value: 'llama' },
      { key: 'general.name', type: 'string', value: 'random' },
      u32('block_count', s.nLayers),
      u32('context_length', 64),
      u32('embedding_length', s.dim),
      u32('feed_forward_length', s.hiddenDim),
      u32('attention.head_count', s.nHeads),
      u32('attention.head_count_kv', s.nKvHeads),
      { key: 'llama.attention.layer_norm_rms_epsilon', type: 'f32', value: NORM_EPS },
      { key: 'llama.rope.freq_base', type: 'f32', value: ROPE_THETA },
    ],
    tensors,
  );
  return memorySource(concatParts(parts), 'random.gguf');
}

/** GPT-2's byte → printable character table (tokenizers' ByteLevel), so any byte string is a token string. */
function byteChars(): string[] {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let next = 256;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : next++));
}

const MERGES = [
  'l l',
  'h e',
  'he ll',
  'hell o',
  'Ġ w',
  'o r',
  'Ġw or',
  'l d',
  'Ġwor ld',
  'Ġ t',
  'i m',
  'Ġt im',
  'Ġtim e',
];
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];
/** SmolLM2-Instruct's ChatML template, shortened (no default system prompt). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + " +
  "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/**
 * A byte-level BPE tokenizer in SmolLM2's layout: 256 byte tokens, 13 merges ("hello", " world", " time"),
 * three special tokens; 272 ids. `bosVia` says how BOS gets prepended: not at all (SmolLM2, Qwen2), by the
 * post-processor (Llama's TemplateProcessing) or by tokenizer_config.json's add_bos_token.
 */
export function tinyTokenizer(bosVia: 'none' | 'postProcessor' | 'config' = 'none') {
  const vocab: Record<string, number> = {};
  byteChars().forEach((c, b) => (vocab[c] = b));
  MERGES.forEach((m, i) => (vocab[m.replace(' ', '')] = 256 + i));
  const firstSpecial = 256 + MERGES.length;
  const [bos, eos] = [SPECIAL_TOKENS[1], SPECIAL_TOKENS[2]];
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  const template = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [
      { SpecialToken: { id: bos, type_id: 0 } },
      { Sequence: { id: 'A', type_id: 0 } },
      { Sequence: { id: 'B', type_id: 1 } },
    ],
    special_tokens: { [bos]: { id: bos, ids: [firstSpecial + 1], tokens: [bos] } },
  };
  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content, i) => ({
      id: firstSpecial + i,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: bosVia === 'postProcessor' ? template : byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: MERGES,
    },
  };
  const tokenizerConfig = {
    bos_token: bos,
    eos_token: {
      __type: 'AddedToken',
      content: eos,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
    },
    ...(bosVia === 'config' ? { add_bos_token: true } : {}),
    chat_template: CHATML_TEMPLATE,
    clean_up_tokenization_spaces: false,
  };
  return {
    tokenizerJson,
    tokenizerConfig,
    vocabSize: firstSpecial + SPECIAL_TOKENS.length,
    bosId: firstSpecial + 1,
    eosId: firstSpecial + 2,
  };
}
