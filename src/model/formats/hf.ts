// Hugging Face folder → model description: config.json, the weights in model.safetensors or in shards
// listed by model.safetensors.index.json, and tokenizer.json / tokenizer_config.json (the layout of the
// SmolLM2, TinyLlama, Llama-3 and Qwen2.5 repositories). Tensors are renamed to GGUF names and read in place;
// Q/K rows stay in HF's rotate-half order, so the configuration says pairing 'half' (no permutation).

import type { ByteSource } from '../../io/byteSource';
import { ChatTemplate } from '../../io/chatTemplate';
import { HfTokenizer, chatTemplateSource } from '../../io/hfTokenizer';
import { readSafetensors } from '../../io/safetensors';
import { UnsupportedModelError, configFromHf, llama3FreqFactors } from '../config';
import type { ModelDescription } from '../load';
import { type StoredDtype, type TensorSource, fileTensor } from '../tensorSource';

type Json = Record<string, unknown>;

export class HfFolderError extends Error {
  override name = 'HfFolderError';
}

const INDEX = 'model.safetensors.index.json';
const SINGLE = 'model.safetensors';
/** Config and tokenizer files are a few MB (Llama 3's tokenizer.json is 9 MB); anything huge is not one. */
const MAX_JSON_BYTES = 64 * 2 ** 20;

/** Per-layer HF names (after model.layers.N.) and their GGUF names (after blk.N.). */
const LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};
const GLOBAL_NAMES: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

export async function describeHf(files: Map<string, ByteSource>): Promise<ModelDescription> {
  const configFile = files.get('config.json');
  if (!configFile) throw new HfFolderError('a Hugging Face model folder needs config.json.');
  const json = await readJson(configFile);
  const parsed = configFromHf(json);
  const tensors = await safetensorsTensors(files, parsed.nLayers);
  // Without lm_head.weight the head is the embedding, whatever tie_word_embeddings says: llama.cpp's
  // converter writes no output.weight then, and llama.cpp falls back to token_embd.
  const hasHead = tensors.some((t) => t.name === 'output.weight');
  const config = { ...parsed, tiedEmbeddings: parsed.tiedEmbeddings || !hasHead };
  const used = config.tiedEmbeddings ? tensors.filter((t) => t.name !== 'output.weight') : tensors;
  const factors = llama3FreqFactors(config);
  // HF computes Llama-3's scaled frequencies from config.json; the loader takes them as GGUF's rope_freqs.
  if (factors) used.push(memoryTensor('rope_freqs.weight', factors));
  const { tokenizer, chatTemplate } = await tokenizerFiles(files, json);
  const name =
    typeof json._name_or_path === 'string' && json._name_or_path
      ? json._name_or_path
      : configFile.name.replace(/\/?config\.json$/, '') || `${String(json.model_type)} model`;
  return { name, config, tensors: used, tokenizer, ...(chatTemplate ? { chatTemplate } : {}) };
}

/** Every weight of the model, renamed to GGUF names, from the single file or from all shards of the index. */
async function safetensorsTensors(files: Map<string, ByteSource>, nLayers: number): Promise<TensorSource[]> {
  const indexFile = files.get(INDEX);
  let weightMap: Map<string, string> | null = null;
  let shards: string[];
  if (indexFile) {
    const map = (await readJson(indexFile)).weight_map;
    if (!map || typeof map !== 'object' || Object.values(map).some((v) => typeof v !== 'string')) {
      throw new HfFolderError(`${indexFile.name}: weight_map must map tensor names to shard file names.`);
    }
    weightMap = new Map(Object.entries(map as Record<string, string>));
    shards = [...new Set(weightMap.values())].sort();
    const missing = shards.filter((s) => !files.has(s));
    if (missing.length) {
      throw new HfFolderError(
        `${INDEX} lists ${missing.length} shard(s) that are not in the folder: ${missing.join(', ')}.`,
      );
    }
  } else if (files.has(SINGLE)) {
    shards = [SINGLE];
  } else {
    const present = [...files.keys()].filter((n) => n.endsWith('.safetensors'));
    throw new HfFolderError(
      `no ${SINGLE} and no ${INDEX} in the folder` +
        (present.length ? ` (found ${present.join(', ')}; shards need their index).` : '.'),
    );
  }
  const out: TensorSource[] = [];
  const seen = new Map<string, string>();
  for (const shard of shards) {
    const src = files.get(shard)!;
    for (const t of (await readSafetensors(src)).tensors) {
      if (weightMap && weightMap.get(t.name) !== shard) {
        throw new HfFolderError(
          `${shard} holds ${t.name}, but ${INDEX} ` +
            (weightMap.has(t.name) ? `places it in ${weightMap.get(t.name)}.` : 'does not list it.'),
        );
      }
      const name = ggufName(t.name, nLayers);
      if (name === null) continue;
      if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') {
        throw new UnsupportedModelError(
          `${shard}: tensor ${t.name} is ${t.dtype}; only F32, F16 and BF16 weights are supported.`,
        );
      }
      seen.set(t.name, shard);
      out.push(fileTensor(src, name, t.shape, t.dtype as StoredDtype, t.offset, t.byteLength));
    }
  }
  const absent = weightMap ? [...weightMap.keys()].filter((n) => !seen.has(n) && ggufName(n, nLayers) !== null) : [];
  if (absent.length)
    throw new HfFolderError(`${INDEX} lists tensors its shards lack: ${absent.slice(0, 5).join(', ')}.`);
  return out;
}

/** GGUF name of an HF tensor name; null for buffers that are not weights (rotary inv_freq, recomputed). */
function ggufName(hf: string, nLayers: number): string | null {
  if (hf in GLOBAL_NAMES) return GLOBAL_NAMES[hf];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  if (m && m[2] === 'self_attn.rotary_emb.inv_freq') return null;
  if (m && m[2] in LAYER_NAMES) {
    if (Number(m[1]) >= nLayers)
      throw new HfFolderError(`tensor ${hf} belongs to layer ${m[1]}, but config.json has ${nLayers} layers.`);
    return `blk.${m[1]}.${LAYER_NAMES[m[2]]}`;
  }
  throw new UnsupportedModelError(
    `tensor ${hf} is not part of a LLaMA or Qwen2 model (an architecture we do not run?).`,
  );
}

/** The tokenizer (when tokenizer.json is present) and the chat template (when the model has one). */
async function tokenizerFiles(
  files: Map<string, ByteSource>,
  config: Json,
): Promise<{ tokenizer: HfTokenizer | null; chatTemplate?: string }> {
  const tokFile = files.get('tokenizer.json');
  const cfgFile = files.get('tokenizer_config.json');
  const jinja = files.get('chat_template.jinja');
  const tokConfig = cfgFile ? await readJson(cfgFile) : {};
  const firstId = (v: unknown) => (Array.isArray(v) ? v[0] : v) as number | null | undefined;
  const tokenizer = tokFile
    ? new HfTokenizer(await readJson(tokFile), tokConfig, {
        bosId: firstId(config.bos_token_id),
        eosId: firstId(config.eos_token_id),
      })
    : null;
  const chatTemplate = chatTemplateSource(tokConfig, jinja ? await readText(jinja) : undefined);
  // Parse now so that a template our Jinja cannot handle is reported at load, not at the first chat.
  if (chatTemplate) new ChatTemplate(chatTemplate);
  return { tokenizer, chatTemplate };
}

async function readText(src: ByteSource): Promise<string> {
  if (src.size > MAX_JSON_BYTES)
    throw new HfFolderError(`${src.name}: ${src.size} bytes is too large for this kind of file.`);
  return new TextDecoder().decode(await src.read(0, src.size));
}

async function readJson(src: ByteSource): Promise<Json> {
  const text = await readText(src);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new HfFolderError(`${src.name}: not valid JSON: ${(e as Error).message}`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value))
    throw new HfFolderError(`${src.name}: expected a JSON object.`);
  return value as Json;
}

/** A small F32 tensor computed on the host (not read from a file). */
function memoryTensor(name: string, values: Float32Array): TensorSource {
  const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  return { name, shape: [values.length], dtype: 'F32', byteLength: bytes.byteLength, read: async () => bytes };
}
