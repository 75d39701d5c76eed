// A trained adapter as the exporters read it, from bytes alone (no file system, so the browser worker and the
// CLI share it): adapter_config.json (PEFT's keys plus a "metalora" section with the method, the task names
// and every training setting) and adapter_model.safetensors (f32 tensors under the names src/adapters gives
// them). Tensors are kept exactly as trained: rows in the order of the base *as it was loaded* (see
// rowOrder.ts for what that means for Q and K).

import type { Adapter, TargetModule } from '../adapters/types';
import type { LlamaConfig, RopePairing } from '../model/config';
import type { NamedTensor } from '../train/checkpoint';
import { DEFAULT_SETTINGS, type TrainSettings, validateSettings } from '../train/settings';
import { memorySource } from '../io/byteSource';
import { readSafetensors } from '../io/safetensors';
import { qkHeads, reorderRows } from './rowOrder';

export interface AdapterConfig {
  peft_type: 'LORA' | 'MTL_LORA';
  task_type: 'CAUSAL_LM';
  r: number;
  lora_alpha: number;
  target_modules: string[];
  lora_dropout: number;
  bias: 'none';
  fan_in_fan_out: false;
  base_model_name_or_path: string;
  inference_mode: true;
  metalora: {
    method: TrainSettings['method'];
    tasks: string[];
    settings: TrainSettings;
    /**
     * The RoPE pairing of the base as it was loaded for training, i.e. the order of the adapter's Q/K lora_B
     * rows (rowOrder.ts). Absent in folders written before it was recorded: the base given is then assumed to
     * have the training base's order.
     */
    ropePairing?: RopePairing;
  };
}

export interface AdapterData {
  config: AdapterConfig;
  /** Every tensor of adapter_model.safetensors by name, as f32. */
  tensors: Map<string, NamedTensor>;
}

export class AdapterDataError extends Error {
  override name = 'AdapterDataError';
}

/** PEFT's module name of a target (q → q_proj). */
export const peftModule = (t: TargetModule) => `${t}_proj`;

/** The config `train` writes beside the adapter's tensors. */
export function adapterConfig(
  adapter: Adapter,
  s: TrainSettings,
  tasks: string[],
  baseModel: string,
  ropePairing: RopePairing,
): AdapterConfig {
  return {
    peft_type: adapter.kind === 'lora' ? 'LORA' : 'MTL_LORA',
    task_type: 'CAUSAL_LM',
    r: s.rank,
    lora_alpha: s.loraAlpha,
    target_modules: adapter.settings.targets.map(peftModule),
    lora_dropout: s.dropout,
    bias: 'none',
    fan_in_fan_out: false,
    base_model_name_or_path: baseModel,
    inference_mode: true,
    metalora: { method: s.method, tasks, settings: s, ropePairing },
  };
}

/** Parses and checks adapter_config.json's text (`where` names it in errors). */
function parseAdapterConfig(text: string, where: string): AdapterConfig {
  let config: AdapterConfig;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw new AdapterDataError(`${where}: not valid JSON (${(e as Error).message})`);
  }
  if (!config?.metalora?.settings || !Array.isArray(config.metalora.tasks)) {
    throw new AdapterDataError(`${where} has no "metalora" section: only adapters trained by this tool load here`);
  }
  checkTasksAndPairing(config, where);
  if (config.peft_type !== 'LORA' && config.peft_type !== 'MTL_LORA') {
    throw new AdapterDataError(`${where}: peft_type ${JSON.stringify(config.peft_type)} is neither LORA nor MTL_LORA`);
  }
  const m = config.metalora;
  return { ...config, metalora: { ...m, settings: checkedSettings(m.settings, config.peft_type, where) } };
}

/**
 * The "metalora" section's settings, tasks and pairing, checked: everything that rebuilds or exports the adapter
 * trusts them (a hand-edited `"targets": 3` would otherwise surface as a TypeError deep in an export). Settings
 * the folder lacks (written by an older version) take their defaults.
 */
function checkedSettings(given: unknown, peftType: AdapterConfig['peft_type'], where: string): TrainSettings {
  if (typeof given !== 'object' || given === null || Array.isArray(given)) {
    throw new AdapterDataError(`${where}: metalora.settings is not an object`);
  }
  const known = Object.entries(given).filter(([k]) => k in DEFAULT_SETTINGS);
  const settings = { ...DEFAULT_SETTINGS, ...Object.fromEntries(known) } as TrainSettings;
  try {
    validateSettings(settings);
  } catch (e) {
    throw new AdapterDataError(`${where}: ${(e as Error).message}`);
  }
  if ((settings.method === 'mtl-lora') !== (peftType === 'MTL_LORA')) {
    throw new AdapterDataError(`${where}: peft_type ${peftType} does not fit the method ${settings.method}`);
  }
  return settings;
}

function checkTasksAndPairing(config: AdapterConfig, where: string): void {
  const { tasks, ropePairing } = config.metalora;
  if (tasks.length === 0 || !tasks.every((t) => typeof t === 'string')) {
    throw new AdapterDataError(`${where}: metalora.tasks must be a non-empty list of task names`);
  }
  if (ropePairing !== undefined && ropePairing !== 'half' && ropePairing !== 'adjacent') {
    throw new AdapterDataError(
      `${where}: metalora.ropePairing ${JSON.stringify(ropePairing)} is neither "half" nor "adjacent"`,
    );
  }
}

/** Reads adapter_model.safetensors' bytes: every tensor must be F32 (as train writes them). */
export async function parseAdapterTensors(bytes: Uint8Array, where: string): Promise<Map<string, NamedTensor>> {
  const file = await readSafetensors(memorySource(bytes, where));
  const out = new Map<string, NamedTensor>();
  for (const t of file.tensors) {
    if (t.dtype !== 'F32')
      throw new AdapterDataError(`${where}: tensor ${t.name} is ${t.dtype}; adapters are stored as F32`);
    out.set(t.name, {
      name: t.name,
      shape: t.shape,
      data: new Float32Array(bytes.slice(t.offset, t.offset + t.byteLength).buffer),
    });
  }
  return out;
}

/** The adapter from the two files' contents; `dir` (where they came from, if anywhere) prefixes their names in errors. */
export async function parseAdapter(configText: string, safetensors: Uint8Array, dir = ''): Promise<AdapterData> {
  const prefix = dir ? `${dir.replace(/\/$/, '')}/` : '';
  return {
    config: parseAdapterConfig(configText, `${prefix}adapter_config.json`),
    tensors: await parseAdapterTensors(safetensors, `${prefix}adapter_model.safetensors`),
  };
}

/**
 * The adapter with its Q/K lora_B rows (MTL-LoRA: every B^i) in the order of `cfg`, the base it is about to
 * be applied to or exported against: an adapter trained on a Hugging Face folder applies to that model's
 * GGUF conversion (and the other way round) once its rows follow the conversion's permutation.
 */
export function alignToBase(data: AdapterData, cfg: LlamaConfig): AdapterData {
  const from = data.config.metalora.ropePairing;
  if (from === undefined || from === cfg.ropePairing) return data;
  const tensors = new Map(data.tensors);
  for (const [name, t] of data.tensors) {
    const m = /\.self_attn\.([qk])_proj\.(?:lora_B|mtl_lora_B)\.weight$/.exec(name);
    if (!m) continue;
    const heads = qkHeads(cfg, m[1])!;
    const [rows, r] = t.shape.slice(-2);
    const stacks = t.shape.length === 3 ? t.shape[0] : 1;
    if (t.shape.length < 2 || t.shape.length > 3 || rows !== heads * cfg.headDim) {
      throw new AdapterDataError(
        `${name} has shape [${t.shape}], but this base model's ${m[1]}_proj has ` +
          `${heads * cfg.headDim} output rows (an adapter for another model?)`,
      );
    }
    const data2 = new Float32Array(t.data.length);
    for (let i = 0; i < stacks; i++) {
      const one = t.data.subarray(i * rows * r, (i + 1) * rows * r);
      data2.set(reorderRows(one, heads, rows, r, from, cfg.ropePairing), i * rows * r);
    }
    tensors.set(name, { ...t, data: data2 });
  }
  return { config: { ...data.config, metalora: { ...data.config.metalora, ropePairing: cfg.ropePairing } }, tensors };
}
