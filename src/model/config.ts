// The model configuration every part of the engine reads, recognised from GGUF metadata, a Hugging Face
// config.json or a llama2.c header. Anything we cannot run is refused here, naming what is unsupported.

import type { Llama2cHeader } from '../io/llama2c';

export type RopePairing = 'half' | 'adjacent';

export interface RopeScalingLlama3 {
  type: 'llama3';
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContextLength: number;
}

export interface LlamaConfig {
  /** Architecture family: LLaMA 1/2/3, SmolLM(2), TinyLlama are 'llama'; Qwen2/2.5 add q/k/v biases. */
  arch: 'llama' | 'qwen2';
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  vocabSize: number;
  normEps: number;
  ropeTheta: number;
  /** How RoPE pairs dimensions in this checkpoint's Q/K rows (docs/DESIGN.md §5): decided by the source format. */
  ropePairing: RopePairing;
  ropeScaling: RopeScalingLlama3 | null;
  tiedEmbeddings: boolean;
  contextLength: number;
  qkvBias: boolean;
}

export class UnsupportedModelError extends Error {
  override name = 'UnsupportedModelError';
}

function check(cfg: LlamaConfig, source: string): LlamaConfig {
  const positive = [
    'dim',
    'hiddenDim',
    'nLayers',
    'nHeads',
    'nKvHeads',
    'headDim',
    'vocabSize',
    'contextLength',
  ] as const;
  for (const k of positive) {
    if (!Number.isSafeInteger(cfg[k]) || cfg[k] <= 0 || cfg[k] > 1 << 24) {
      throw new UnsupportedModelError(`${source}: ${k} = ${cfg[k]} is not a sensible size.`);
    }
  }
  if (cfg.nHeads % cfg.nKvHeads) {
    throw new UnsupportedModelError(
      `${source}: ${cfg.nHeads} query heads are not a multiple of ${cfg.nKvHeads} KV heads.`,
    );
  }
  if (cfg.headDim % 2)
    throw new UnsupportedModelError(`${source}: head dimension ${cfg.headDim} is odd; RoPE needs pairs.`);
  if (!(cfg.normEps > 0 && cfg.normEps < 1))
    throw new UnsupportedModelError(`${source}: RMSNorm epsilon ${cfg.normEps} is invalid.`);
  if (!(cfg.ropeTheta > 0)) throw new UnsupportedModelError(`${source}: RoPE theta ${cfg.ropeTheta} is invalid.`);
  return cfg;
}

type Meta = Map<string, unknown>;

/** From GGUF metadata; `tensorNames` tells whether the head is tied (no output.weight). */
export function configFromGguf(meta: Meta, tensorNames: string[], vocabFromTensor: number): LlamaConfig {
  const arch = meta.get('general.architecture');
  if (arch !== 'llama' && arch !== 'qwen2') {
    throw new UnsupportedModelError(
      `GGUF architecture "${String(arch)}" is not supported (supported: llama, qwen2 — ` +
        'which covers LLaMA 1/2/3, SmolLM/SmolLM2, TinyLlama and Qwen2/2.5).',
    );
  }
  const get = (k: string, dflt?: number): number => {
    const v = meta.get(`${arch}.${k}`) ?? dflt;
    if (v === undefined) throw new UnsupportedModelError(`GGUF metadata lacks ${arch}.${k}.`);
    return Number(v);
  };
  const nHeads = get('attention.head_count');
  const dim = get('embedding_length');
  const headDim = get('attention.key_length', dim / nHeads);
  const ropeDims = get('rope.dimension_count', headDim);
  if (ropeDims !== headDim)
    throw new UnsupportedModelError(`partial RoPE (${ropeDims} of ${headDim} dims) is not supported.`);
  const scalingType = meta.get(`${arch}.rope.scaling.type`);
  if (scalingType !== undefined && scalingType !== 'none') {
    throw new UnsupportedModelError(`RoPE scaling "${String(scalingType)}" is not supported.`);
  }
  return check(
    {
      arch,
      dim,
      hiddenDim: get('feed_forward_length'),
      nLayers: get('block_count'),
      nHeads,
      nKvHeads: get('attention.head_count_kv', nHeads),
      headDim,
      vocabSize: vocabFromTensor,
      normEps: get('attention.layer_norm_rms_epsilon'),
      ropeTheta: get('rope.freq_base', 10000),
      // llama.cpp's converter permutes Q/K rows of llama-arch models so that pairs are adjacent; qwen2 keeps HF's.
      ropePairing: arch === 'llama' ? 'adjacent' : 'half',
      // Llama-3 scaling arrives precomputed as the rope_freqs.weight tensor.
      ropeScaling: null,
      tiedEmbeddings: !tensorNames.includes('output.weight'),
      contextLength: get('context_length', 2048),
      qkvBias: tensorNames.includes('blk.0.attn_q.bias'),
    },
    'GGUF',
  );
}

/** From a Hugging Face config.json. */
/** A llama2.c header's model: run.c's fixed norm epsilon and RoPE base, adjacent RoPE pairs, no biases. */
export function configFromLlama2c(h: Llama2cHeader): LlamaConfig {
  return {
    arch: 'llama',
    dim: h.dim,
    hiddenDim: h.hiddenDim,
    nLayers: h.nLayers,
    nHeads: h.nHeads,
    nKvHeads: h.nKvHeads,
    headDim: h.dim / h.nHeads,
    vocabSize: h.vocabSize,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropePairing: 'adjacent',
    ropeScaling: null,
    tiedEmbeddings: h.tiedEmbeddings,
    contextLength: h.seqLen,
    qkvBias: false,
  };
}

export function configFromHf(json: Record<string, unknown>): LlamaConfig {
  const type = json.model_type;
  if (type !== 'llama' && type !== 'qwen2') {
    throw new UnsupportedModelError(
      `model_type "${String(type)}" is not supported (supported: llama, qwen2 — ` +
        'which covers LLaMA 1/2/3, SmolLM/SmolLM2, TinyLlama and Qwen2/2.5).',
    );
  }
  const num = (k: string, dflt?: number): number => {
    const v = json[k] ?? dflt;
    if (typeof v !== 'number') throw new UnsupportedModelError(`config.json lacks a numeric "${k}".`);
    return v;
  };
  const act = json.hidden_act ?? 'silu';
  if (act !== 'silu') throw new UnsupportedModelError(`hidden_act "${String(act)}" is not supported (only silu).`);
  if (json.attention_bias === true || json.mlp_bias === true) {
    throw new UnsupportedModelError('LLaMA variants with attention_bias/mlp_bias are not supported.');
  }
  const nHeads = num('num_attention_heads');
  const dim = num('hidden_size');
  return check(
    {
      arch: type,
      dim,
      hiddenDim: num('intermediate_size'),
      nLayers: num('num_hidden_layers'),
      nHeads,
      nKvHeads: num('num_key_value_heads', nHeads),
      headDim: num('head_dim', dim / nHeads),
      vocabSize: num('vocab_size'),
      normEps: num('rms_norm_eps', 1e-6),
      ropeTheta: num('rope_theta', 10000),
      ropePairing: 'half',
      ropeScaling: ropeScalingFromHf(json.rope_scaling),
      tiedEmbeddings: json.tie_word_embeddings === true,
      contextLength: num('max_position_embeddings', 2048),
      qkvBias: type === 'qwen2',
    },
    'config.json',
  );
}

function ropeScalingFromHf(raw: unknown): RopeScalingLlama3 | null {
  if (raw === null || raw === undefined) return null;
  const r = raw as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type === 'default') return null;
  if (type !== 'llama3')
    throw new UnsupportedModelError(`rope_scaling type "${String(type)}" is not supported (only llama3).`);
  return {
    type: 'llama3',
    factor: Number(r.factor),
    lowFreqFactor: Number(r.low_freq_factor),
    highFreqFactor: Number(r.high_freq_factor),
    originalContextLength: Number(r.original_max_position_embeddings),
  };
}

/**
 * Llama-3 frequency factors (the ratio by which each RoPE frequency is divided), as HF's
 * _compute_llama3_parameters and llama.cpp's rope_freqs.weight define them.
 */
export function llama3FreqFactors(cfg: LlamaConfig): Float32Array | null {
  const s = cfg.ropeScaling;
  if (!s) return null;
  const half = cfg.headDim / 2;
  const out = new Float32Array(half);
  const lowWavelen = s.originalContextLength / s.lowFreqFactor;
  const highWavelen = s.originalContextLength / s.highFreqFactor;
  for (let j = 0; j < half; j++) {
    const freq = cfg.ropeTheta ** ((-2 * j) / cfg.headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[j] = 1;
    else if (wavelen > lowWavelen) out[j] = s.factor;
    else {
      const smooth = (s.originalContextLength / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out[j] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

/** Parameter count of the base model (embeddings counted once when tied). */
export function parameterCount(c: LlamaConfig): number {
  const kv = c.nKvHeads * c.headDim;
  const q = c.nHeads * c.headDim;
  const perLayer =
    c.dim * q + 2 * c.dim * kv + q * c.dim + 3 * c.dim * c.hiddenDim + 2 * c.dim + (c.qkvBias ? q + 2 * kv : 0);
  return c.vocabSize * c.dim * (c.tiedEmbeddings ? 1 : 2) + c.nLayers * perLayer + c.dim;
}
