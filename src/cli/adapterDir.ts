// An adapter directory as `train --out DIR` writes it and `eval`, `logits`, `generate` and `export` read it
// (docs/DESIGN.md §3, §6): adapter_model.safetensors (f32, metadata {"format": "pt"}) and adapter_config.json.
// Plain LoRA is a PEFT LoRA adapter: PEFT's tensor names and config keys. MTL-LoRA keeps its own tensors (Λ_t,
// the B^i stack, w_t; see src/adapters/mtlLora.ts) under peft_type "MTL_LORA", so PEFT refuses it instead of
// loading it wrongly; `export` turns it into plain LoRA per task. Either way a "metalora" section records the
// method, the task names (MTL-LoRA's task ids) and every training setting. Parsing the two files is
// platform-neutral (src/export/adapterData.ts); this module adds the file system and the GPU.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { concatParts } from '../io/ggufWriter';
import {
  type AdapterConfig,
  type AdapterData,
  AdapterDataError,
  alignToBase,
  parseAdapter,
} from '../export/adapterData';
import { writeSafetensors } from '../io/safetensors';
import type { LlamaConfig } from '../model/config';
import { readNamedTensors, writeNamedTensors } from '../train/checkpoint';
import { createAdapterFor } from '../train/run';

export { adapterConfig } from '../export/adapterData';

export const ADAPTER_MODEL = 'adapter_model.safetensors';
export const ADAPTER_CONFIG = 'adapter_config.json';

/** Writes the adapter's current parameters and its config into `dir` (which exists). */
export async function writeAdapterDir(
  ctx: GpuContext,
  dir: string,
  adapter: Adapter,
  config: AdapterConfig,
): Promise<void> {
  const tensors = await readNamedTensors(ctx, adapter.names, adapter.params);
  const parts = writeSafetensors(
    tensors.map((t) => ({
      name: t.name,
      dtype: 'F32' as const,
      shape: t.shape,
      data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    })),
    { format: 'pt' },
  );
  await writeFile(join(dir, ADAPTER_MODEL), concatParts(parts));
  await writeFile(join(dir, ADAPTER_CONFIG), `${JSON.stringify(config, null, 2)}\n`);
}

/** Reads `dir`'s config and tensors to the host. */
export async function readAdapterDir(dir: string): Promise<AdapterData> {
  const read = async <T>(name: string, what: string, how: (path: string) => Promise<T>): Promise<T> => {
    try {
      return await how(join(dir, name));
    } catch (e) {
      throw new AdapterDataError(`${join(dir, name)}: cannot read ${what} (${(e as Error).message})`);
    }
  };
  const text = await read(ADAPTER_CONFIG, 'the adapter config', (p) => readFile(p, 'utf8'));
  const bytes = await read(ADAPTER_MODEL, "the adapter's tensors", async (p) => new Uint8Array(await readFile(p)));
  return parseAdapter(text, bytes, dir);
}

/** Rebuilds the adapter on the GPU for the model `cfg` from its host data. */
export function adapterFromData(ctx: GpuContext, cfg: LlamaConfig, given: AdapterData): Adapter {
  const data = alignToBase(given, cfg);
  const { config } = data;
  // The method's adapter as training built it (without dropout), then the saved values written over it.
  const adapter = createAdapterFor(ctx, cfg, config.metalora.settings, config.metalora.tasks.length, 0);
  try {
    writeNamedTensors(
      ctx,
      adapter.names,
      adapter.params,
      adapter.names.map((name) => {
        const t = data.tensors.get(name);
        if (!t)
          throw new AdapterDataError(`${ADAPTER_MODEL} lacks the F32 tensor ${name} (adapter for another model?)`);
        return t;
      }),
    );
  } catch (e) {
    adapter.release();
    throw e;
  }
  return adapter;
}

/** Reads `dir` and rebuilds the adapter on the GPU for the model `cfg`. */
export async function loadAdapterDir(
  ctx: GpuContext,
  cfg: LlamaConfig,
  dir: string,
): Promise<{ adapter: Adapter; config: AdapterConfig }> {
  const data = await readAdapterDir(dir);
  return { adapter: adapterFromData(ctx, cfg, data), config: data.config };
}

/**
 * The task id a run uses: MTL-LoRA needs --task (one of the tasks it was trained on); plain LoRA has one
 * behaviour for every task, so --task is refused there rather than silently ignored.
 */
export function taskIndex(config: AdapterConfig, task: string | undefined): number {
  const tasks = config.metalora.tasks;
  if (config.peft_type === 'LORA') {
    if (task !== undefined)
      throw new AdapterDataError('--task applies to MTL-LoRA adapters; this is a plain LoRA adapter.');
    return 0;
  }
  if (task === undefined)
    throw new AdapterDataError(`this MTL-LoRA adapter needs --task NAME (one of ${tasks.join(', ')}).`);
  const t = tasks.indexOf(task);
  if (t < 0) throw new AdapterDataError(`--task ${task}: this MTL-LoRA adapter was trained on ${tasks.join(', ')}.`);
  return t;
}
