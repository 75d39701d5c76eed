// An adapter directory as `train --out DIR` writes it and `eval --adapter DIR` reads it (DESIGN.md §3, §6):
// adapter_model.safetensors (f32, metadata {"format": "pt"}) and adapter_config.json. Plain LoRA is a PEFT
// LoRA adapter: PEFT's tensor names and config keys. MTL-LoRA keeps its own tensors (Λ_t, the B^i stack, w_t;
// see src/adapters/mtlLora.ts) under peft_type "MTL_LORA", so PEFT refuses it instead of loading it wrongly;
// per-task export to plain LoRA is a separate step. Either way a "metalora" section records the method, the
// task names (MTL-LoRA's task ids) and every training setting.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLora } from '../adapters/lora';
import { createMtlLora } from '../adapters/mtlLora';
import type { Adapter, TargetModule } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { memorySource } from '../io/byteSource';
import { concatParts } from '../io/ggufWriter';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import type { LlamaConfig } from '../model/config';
import { type NamedTensor, readNamedTensors, writeNamedTensors } from '../train/checkpoint';
import type { TrainSettings } from '../train/settings';

export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

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

const module = (t: TargetModule) => `${t}_proj`;

export class AdapterDirError extends Error {
  override name = 'AdapterDirError';
}

export function adapterConfig(adapter: Adapter, s: TrainSettings, tasks: string[], baseModel: string): AdapterConfig {
  return {
    peft_type: adapter.kind === 'lora' ? 'LORA' : 'MTL_LORA', task_type: 'CAUSAL_LM', r: s.rank, lora_alpha: s.loraAlpha,
    target_modules: adapter.settings.targets.map(module), lora_dropout: s.dropout, bias: 'none', fan_in_fan_out: false,
    base_model_name_or_path: baseModel, inference_mode: true, metalora: { method: s.method, tasks, settings: s },
  };
}

/** Writes the adapter's current parameters and its config into `dir` (which exists). */
export async function writeAdapterDir(ctx: GpuContext, dir: string, adapter: Adapter, config: AdapterConfig): Promise<void> {
  const tensors = await readNamedTensors(ctx, adapter.names, adapter.params);
  const parts = writeSafetensors(tensors.map((t) => ({
    name: t.name, dtype: 'F32' as const, shape: t.shape, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
  })), { format: 'pt' });
  await writeFile(join(dir, ADAPTER_MODEL), concatParts(parts));
  await writeFile(join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
}

/** Reads `dir`'s config and tensors and rebuilds the adapter on the GPU for the model `cfg`. */
export async function loadAdapterDir(ctx: GpuContext, cfg: LlamaConfig, dir: string): Promise<{ adapter: Adapter; config: AdapterConfig }> {
  let config: AdapterConfig;
  try {
    config = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG), 'utf8'));
  } catch (e) {
    throw new AdapterDirError(`${join(dir, ADAPTER_CONFIG)}: cannot read the adapter config (${(e as Error).message})`);
  }
  if (!config.metalora?.settings) {
    throw new AdapterDirError(`${join(dir, ADAPTER_CONFIG)} has no "metalora" section: only adapters trained by this tool load here`);
  }
  const s = config.metalora.settings;
  const lora = { rank: s.rank, alpha: s.loraAlpha, dropout: 0, targets: s.targets };
  const adapter = config.peft_type === 'MTL_LORA'
    ? createMtlLora(ctx, cfg,
      { ...lora, nUp: s.mtlUpProjections, tau: s.mtlTau, tasks: config.metalora.tasks.length, wInit: s.mtlWInit }, s.seed)
    : createLora(ctx, cfg, lora, s.seed);
  try {
    const bytes = new Uint8Array(await readFile(join(dir, ADAPTER_MODEL)));
    const file = await readSafetensors(memorySource(bytes, join(dir, ADAPTER_MODEL)));
    const byName = new Map(file.tensors.map((t) => [t.name, t]));
    const values: NamedTensor[] = adapter.names.map((name) => {
      const t = byName.get(name);
      if (!t || t.dtype !== 'F32') throw new AdapterDirError(`${ADAPTER_MODEL} lacks the F32 tensor ${name} (adapter for another model?)`);
      return { name, shape: t.shape, data: new Float32Array(bytes.slice(t.offset, t.offset + t.byteLength).buffer) };
    });
    writeNamedTensors(ctx, adapter.names, adapter.params, values);
  } catch (e) {
    adapter.release();
    throw e;
  }
  return { adapter, config };
}
