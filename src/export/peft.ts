// PEFT LoRA adapters (docs/DESIGN.md §6): adapter_model.safetensors with PEFT's key names and shapes
// (base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight [r, in], ….lora_B.weight [out, r], f32,
// metadata {"format": "pt"}) and the adapter_config.json fields PeftConfig.from_pretrained reads. Q/K lora_B
// rows are put in Hugging Face's order (rowOrder.ts). MTL-LoRA gives one such adapter per task, each in its
// own folder, plus a manifest naming the folders and the mixing weights each task used.

import { modulePath } from '../adapters/types';
import type { LlamaConfig } from '../model/config';
import { writeSafetensors } from '../io/safetensors';
import { type AdapterConfig, peftModule } from './adapterData';
import { type ExportFile, jsonFile, taskFileNames } from './files';
import type { PlainLora } from './plainLora';
import { HF_PAIRING, qkHeads, reorderRows } from './rowOrder';

export const MTL_MANIFEST = 'mtl_lora_manifest.json';

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** adapter_config.json: PEFT's LoraConfig fields only (older PEFT versions reject keys they do not know). */
export function peftConfig(lora: PlainLora, baseName: string) {
  return {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: baseName,
    revision: null,
    inference_mode: true,
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0,
    target_modules: lora.targets.map(peftModule),
    bias: 'none',
    fan_in_fan_out: false,
    modules_to_save: null,
    init_lora_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    rank_pattern: {},
    alpha_pattern: {},
    use_rslora: false,
  };
}

/** One plain LoRA as PEFT's two files, under `folder` ('' for the top level). */
export function peftAdapterFiles(lora: PlainLora, cfg: LlamaConfig, baseName: string, folder = ''): ExportFile[] {
  const tensors = lora.sites.flatMap((s) => {
    const path = modulePath(s.layer, s.target);
    const heads = qkHeads(cfg, s.target);
    const B = heads === null ? s.B : reorderRows(s.B, heads, s.out, lora.rank, cfg.ropePairing, HF_PAIRING);
    return [
      { name: `${path}.lora_A.weight`, dtype: 'F32' as const, shape: [lora.rank, s.in], data: bytesOf(s.A) },
      { name: `${path}.lora_B.weight`, dtype: 'F32' as const, shape: [s.out, lora.rank], data: bytesOf(B) },
    ];
  });
  const prefix = folder ? `${folder}/` : '';
  return [
    { name: `${prefix}adapter_model.safetensors`, parts: writeSafetensors(tensors, { format: 'pt' }) },
    jsonFile(`${prefix}adapter_config.json`, peftConfig(lora, baseName)),
  ];
}

/** The PEFT export of every plain LoRA: top level for a LoRA adapter, a folder per task plus a manifest for MTL-LoRA. */
export function peftExport(
  loras: PlainLora[],
  config: AdapterConfig,
  cfg: LlamaConfig,
  baseName: string,
): ExportFile[] {
  if (config.peft_type === 'LORA') return peftAdapterFiles(loras[0], cfg, baseName);
  const folders = taskFileNames(loras.map((l) => l.task!));
  const manifest = {
    format: 'metalora-mtl-lora-export',
    method: config.metalora.method,
    explanation:
      'Each folder is a plain PEFT LoRA adapter equal to MTL-LoRA run with that task id: ' +
      'A′ = Λ_t·A, B′ = Σ_i softmax(w_t/τ)_i·B^i, scale lora_alpha / r.',
    tau: config.metalora.settings.mtlTau,
    up_projections: config.metalora.settings.mtlUpProjections,
    tasks: loras.map((l, i) => ({
      name: l.task,
      index: config.metalora.tasks.indexOf(l.task!),
      folder: folders[i],
      mixing_weights: l.sites.map((s, k) => ({ module: modulePath(s.layer, s.target), weights: l.mixing![k] })),
    })),
  };
  return [...loras.flatMap((l, i) => peftAdapterFiles(l, cfg, baseName, folders[i])), jsonFile(MTL_MANIFEST, manifest)];
}
