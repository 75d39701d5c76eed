// A trained adapter as the exporters read it, from bytes alone (no file system, so the browser worker and the
// CLI share it): adapter_config.json (PEFT's keys plus a "metalora" section with the method, the task names
// and every training setting) and adapter_model.safetensors (f32 tensors under the names src/adapters gives
// them). Tensors are kept exactly as trained: rows in the order of the base *as it was loaded* (see
// rowOrder.ts for what that means for Q and K).

import type { Adapter, TargetModule } from '../../adapters/types';
import type { NamedTensor } from '../../train/checkpoint';
import type { TrainSettings } from '../../train/settings';
import { memorySource } from '../byteSource';
import { readSafetensors } from '../safetensors';

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
  metalora: { method: TrainSettings['method']; tasks: string[]; settings: TrainSettings };
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
export function adapterConfig(adapter: Adapter, s: TrainSettings, tasks: string[], baseModel: string): AdapterConfig {
  return {
    peft_type: adapter.kind === 'lora' ? 'LORA' : 'MTL_LORA', task_type: 'CAUSAL_LM', r: s.rank, lora_alpha: s.loraAlpha,
    target_modules: adapter.settings.targets.map(peftModule), lora_dropout: s.dropout, bias: 'none', fan_in_fan_out: false,
    base_model_name_or_path: baseModel, inference_mode: true, metalora: { method: s.method, tasks, settings: s },
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
  if (config.peft_type !== 'LORA' && config.peft_type !== 'MTL_LORA') {
    throw new AdapterDataError(`${where}: peft_type ${JSON.stringify(config.peft_type)} is neither LORA nor MTL_LORA`);
  }
  return config;
}

/** Reads adapter_model.safetensors' bytes: every tensor must be F32 (as train writes them). */
export async function parseAdapterTensors(bytes: Uint8Array, where: string): Promise<Map<string, NamedTensor>> {
  const file = await readSafetensors(memorySource(bytes, where));
  const out = new Map<string, NamedTensor>();
  for (const t of file.tensors) {
    if (t.dtype !== 'F32') throw new AdapterDataError(`${where}: tensor ${t.name} is ${t.dtype}; adapters are stored as F32`);
    out.set(t.name, { name: t.name, shape: t.shape, data: new Float32Array(bytes.slice(t.offset, t.offset + t.byteLength).buffer) });
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
