// A short curated list of models known to load, from the tiniest test model to ~1B parameters, with where to
// download them and their sizes. Configurations are copied from each repository's config.json (recognised by
// the same code as a downloaded one), so download size and GPU memory are computed, not guessed (memory.ts
// presetSizes; the page asks the worker for them, since this list is all the page imports of the engine).

import { type LlamaConfig, configFromHf } from './config';
import type { StoredDtype } from './tensorSource';

export interface ModelPreset {
  id: string;
  label: string;
  /** Hugging Face repository id and revision. */
  repo: string;
  revision: string;
  /** 'hf': config.json + tokenizer files + model.safetensors; 'llama2c': a .bin with its tokenizer.bin. */
  format: 'hf' | 'llama2c';
  files: string[];
  /** How the checkpoint stores its weights. */
  storedDtype: StoredDtype;
  config: LlamaConfig;
  /** Instruction-tuned, with a chat template. */
  chat: boolean;
}

const HF_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'];

const smolLm2 = (hidden: number, intermediate: number, layers: number, heads: number, kvHeads: number) =>
  configFromHf({
    model_type: 'llama',
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    vocab_size: 49152,
    max_position_embeddings: 8192,
    rope_theta: 100000,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  });

const smolLm2_135m = smolLm2(576, 1536, 30, 9, 3);

export const PRESETS: readonly ModelPreset[] = [
  {
    id: 'stories260K',
    label: 'stories260K (TinyStories, 260K parameters)',
    repo: 'karpathy/tinyllamas',
    revision: 'main',
    format: 'llama2c',
    files: ['stories260K/stories260K.bin', 'stories260K/tok512.bin'],
    storedDtype: 'F32',
    chat: false,
    // The llama2.c header: dim 64, hidden 172, 5 layers, 8 heads, 4 KV heads, vocab 512 (tied), 512 positions.
    config: {
      arch: 'llama',
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      normEps: 1e-5,
      ropeTheta: 10000,
      ropePairing: 'adjacent',
      ropeScaling: null,
      tiedEmbeddings: true,
      contextLength: 512,
      qkvBias: false,
    },
  },
  {
    id: 'smollm2-135m',
    label: 'SmolLM2 135M',
    repo: 'HuggingFaceTB/SmolLM2-135M',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: false,
    config: smolLm2_135m,
  },
  {
    id: 'smollm2-135m-instruct',
    label: 'SmolLM2 135M Instruct',
    repo: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: true,
    config: smolLm2_135m,
  },
  {
    id: 'smollm2-360m-instruct',
    label: 'SmolLM2 360M Instruct',
    repo: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: true,
    config: smolLm2(960, 2560, 32, 15, 5),
  },
  {
    id: 'qwen2.5-0.5b-instruct',
    label: 'Qwen2.5 0.5B Instruct',
    repo: 'Qwen/Qwen2.5-0.5B-Instruct',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: true,
    config: configFromHf({
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      vocab_size: 151936,
      max_position_embeddings: 32768,
      rope_theta: 1000000,
      rms_norm_eps: 1e-6,
      tie_word_embeddings: true,
    }),
  },
  {
    id: 'tinyllama-1.1b-chat',
    label: 'TinyLlama 1.1B Chat v1.0',
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: true,
    config: configFromHf({
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 5632,
      num_hidden_layers: 22,
      num_attention_heads: 32,
      num_key_value_heads: 4,
      vocab_size: 32000,
      max_position_embeddings: 2048,
      rope_theta: 10000,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: false,
    }),
  },
  {
    // meta-llama/Llama-3.2-1B-Instruct is gated (it needs an access token); unsloth's copy has the same files.
    id: 'llama-3.2-1b-instruct',
    label: 'Llama 3.2 1B Instruct',
    repo: 'unsloth/Llama-3.2-1B-Instruct',
    revision: 'main',
    format: 'hf',
    files: HF_FILES,
    storedDtype: 'BF16',
    chat: true,
    config: configFromHf({
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 8192,
      num_hidden_layers: 16,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      head_dim: 64,
      vocab_size: 128256,
      max_position_embeddings: 131072,
      rope_theta: 500000,
      rms_norm_eps: 1e-5,
      tie_word_embeddings: true,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    }),
  },
];
