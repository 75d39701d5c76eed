// The merged model as a Hugging Face folder: model.safetensors (every tensor in F32, F16 or BF16 under HF
// names, Q/K rows in HF's rotate-half order), config.json (the HF base's own, with torch_dtype updated, or
// one written from the configuration for GGUF and llama2.c bases) and the base's tokenizer files when it has
// them. A GGUF/llama2.c base has no tokenizer.json: the export says so in its notes.

import type { LlamaConfig } from '../model/config';
import type { ModelDescription, ModelFiles } from '../model/load';
import { writeSafetensors } from '../io/safetensors';
import { type ExportFile, jsonFile } from './files';
import { mergedTensors } from './merge';
import type { PlainLora } from './plainLora';
import { HF_PAIRING } from './rowOrder';
import { encodeTensor } from './tensorCodec';

export type MergedHfDtype = 'F32' | 'F16' | 'BF16';

const TORCH_DTYPE: Record<MergedHfDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Files of an HF folder that describe the tokenizer and generation, copied as they are. */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'tokenizer.model',
  'chat_template.jinja',
  'generation_config.json',
];

const GLOBAL: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};
const LAYER: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};

/** Hugging Face name of a GGUF tensor name. */
export function hfName(gguf: string): string {
  if (gguf in GLOBAL) return GLOBAL[gguf];
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  if (m && m[2] in LAYER) return `model.layers.${m[1]}.${LAYER[m[2]]}`;
  throw new Error(`tensor ${gguf} has no Hugging Face name`);
}

/** config.json for a base that has none (GGUF, llama2.c). */
function configJson(cfg: LlamaConfig, d: ModelDescription, dtype: MergedHfDtype): Record<string, unknown> {
  return {
    architectures: [cfg.arch === 'qwen2' ? 'Qwen2ForCausalLM' : 'LlamaForCausalLM'],
    model_type: cfg.arch,
    hidden_size: cfg.dim,
    intermediate_size: cfg.hiddenDim,
    num_hidden_layers: cfg.nLayers,
    num_attention_heads: cfg.nHeads,
    num_key_value_heads: cfg.nKvHeads,
    head_dim: cfg.headDim,
    vocab_size: cfg.vocabSize,
    rms_norm_eps: cfg.normEps,
    rope_theta: cfg.ropeTheta,
    max_position_embeddings: cfg.contextLength,
    hidden_act: 'silu',
    tie_word_embeddings: cfg.tiedEmbeddings,
    torch_dtype: TORCH_DTYPE[dtype],
    ...(cfg.arch === 'llama' ? { attention_bias: false, mlp_bias: false } : {}),
    ...(d.tokenizer?.bosId != null ? { bos_token_id: d.tokenizer.bosId } : {}),
    ...(d.tokenizer?.eosId != null ? { eos_token_id: d.tokenizer.eosId } : {}),
  };
}

export async function mergedHfFiles(
  base: ModelFiles,
  d: ModelDescription,
  lora: PlainLora | null,
  dtype: MergedHfDtype,
  notes: string[],
): Promise<ExportFile[]> {
  const ropeFreqs = d.tensors.some((t) => t.name === 'rope_freqs.weight');
  if (ropeFreqs && base.kind !== 'hf') {
    throw new Error(
      'this GGUF carries Llama-3 RoPE scaling only as rope_freqs.weight, which config.json cannot express; ' +
        'export merged-gguf instead.',
    );
  }
  const tensors = [];
  // An HF base's rope_freqs is computed from its config.json's rope_scaling, which the copied config keeps.
  for (const t of mergedTensors(d, lora, HF_PAIRING).filter((t) => t.name !== 'rope_freqs.weight')) {
    const cols = t.shape[t.shape.length - 1];
    const data = !t.changed && t.stored === dtype ? await t.bytes() : encodeTensor(await t.values(), dtype, cols);
    tensors.push({ name: hfName(t.name), dtype, shape: t.shape, data });
  }
  const files: ExportFile[] = [{ name: 'model.safetensors', parts: writeSafetensors(tensors, { format: 'pt' }) }];
  if (base.kind === 'hf') {
    const own = base.files.get('config.json')!;
    const config = JSON.parse(new TextDecoder().decode(await own.read(0, own.size)));
    // A folder without lm_head is tied whatever its config said (as src/model/formats/hf.ts reads it).
    files.push(
      jsonFile('config.json', {
        ...config,
        torch_dtype: TORCH_DTYPE[dtype],
        tie_word_embeddings: d.config.tiedEmbeddings,
      }),
    );
    for (const name of TOKENIZER_FILES) {
      const src = base.files.get(name);
      if (src) files.push({ name, parts: [await src.read(0, src.size)] });
    }
  } else {
    files.push(jsonFile('config.json', configJson(d.config, d, dtype)));
    notes.push(
      `The base (${base.kind === 'gguf' ? 'a GGUF file' : 'a llama2.c checkpoint'}) has no Hugging Face tokenizer ` +
        "files: put the original model's tokenizer.json / tokenizer_config.json beside these weights.",
    );
  }
  return files;
}
