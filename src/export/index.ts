// The one entry point for exports, shared by the CLI and the browser worker: bytes in (the adapter's files,
// the base model's ByteSources, the metrics), named byte parts out, plus notes the UI shows. Formats:
//   peft                PEFT LoRA adapter (MTL-LoRA: one per task, each in a folder, and a manifest)
//   gguf                llama.cpp GGUF LoRA adapter (MTL-LoRA: one file per task, or only --task)
//   merged-safetensors  base + adapter as a Hugging Face folder (MTL-LoRA: one task, required)
//   merged-gguf         base + adapter as a GGUF model (MTL-LoRA: one task, required)
//   pytorch             the run as a PyTorch recipe (train.py + data + schedule + base; pytorch/recipe.ts)
// Every export carries the training report (report.ts). All formats read the base model's description
// (headers only) for its shapes and Q/K row order; only the merged formats read its weights.

import { describeModel, type ModelFiles } from '../model/load';
import type { StoredDtype } from '../model/tensorSource';
import type { MetricsRecord } from '../train/metrics';
import type { AdapterData } from './adapterData';
import { type ExportFile, taskFileNames } from './files';
import { ggufLoraFile } from './ggufLora';
import { type MergedGgufType, mergedGgufFile } from './mergedGguf';
import { type MergedHfDtype, mergedHfFiles } from './mergedHf';
import { peftExport } from './peft';
import { type PlainLora, plainLoras } from './plainLora';
import { type RecipeRun, pytorchRecipeFiles } from './pytorch/recipe';
import { type TaskDataCount, reportFiles } from './report';
import { HF_PAIRING, ggufPairing } from './rowOrder';
import { type MergedDtype, QUANTIZED } from './tensorCodec';

export type ExportFormat = 'peft' | 'gguf' | 'merged-safetensors' | 'merged-gguf' | 'pytorch';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['peft', 'gguf', 'merged-safetensors', 'merged-gguf', 'pytorch'];

export interface ExportInputs {
  adapter: AdapterData;
  /** The base model the adapter was trained on, as loaded for training. */
  base: ModelFiles;
  /** PEFT's base_model_name_or_path (default: the adapter config's, i.e. what training was given). */
  baseName?: string;
  metrics?: readonly MetricsRecord[];
  /** Examples per task, for the report. */
  data?: readonly TaskDataCount[];
  /** MTL-LoRA: the task to export (required for the merged formats; default all tasks otherwise). */
  task?: string;
  /** Merged formats: F32, F16 or Q8_0 (GGUF), F32, F16 or BF16 (safetensors); see defaultMergedDtype. */
  dtype?: MergedDtype;
  /** pytorch: the run's tokenized tasks (required there). */
  run?: RecipeRun;
}

export interface ExportResult {
  files: ExportFile[];
  /** What the user should know about this export (row reordering, requantization, missing tokenizer files). */
  notes: string[];
}

export class ExportError extends Error {
  override name = 'ExportError';
}

const ALLOWED: Record<'merged-gguf' | 'merged-safetensors', readonly MergedDtype[]> = {
  'merged-gguf': ['F32', 'F16', 'Q8_0'],
  'merged-safetensors': ['F32', 'F16', 'BF16'],
};

/**
 * Merged precision when none is asked for: a quantized base gives Q8_0 in GGUF (requantized) and F16 in
 * safetensors; a BF16 base stays BF16 in safetensors; everything else is F16.
 */
export function defaultMergedDtype(format: 'merged-gguf' | 'merged-safetensors', stored: StoredDtype): MergedDtype {
  if (format === 'merged-gguf') return QUANTIZED.includes(stored) ? 'Q8_0' : 'F16';
  return stored === 'BF16' ? 'BF16' : 'F16';
}

function reorderNote(l: PlainLora, from: string, to: string, consumer: string): string[] {
  if (from === to || !l.targets.some((t) => t === 'q' || t === 'k')) return [];
  return [
    `Q/K lora_B rows were reordered from the base's ${from} RoPE pairing to ${consumer}'s ${to} order, so the ` +
      `adapter applies to ${consumer === 'llama.cpp' ? "llama.cpp's conversion of this model" : 'the Hugging Face version of this model'}.`,
  ];
}

export async function exportAdapter(format: ExportFormat, inputs: ExportInputs): Promise<ExportResult> {
  const d = await describeModel(inputs.base);
  const cfg = d.config;
  const { config } = inputs.adapter;
  const merged = format === 'merged-gguf' || format === 'merged-safetensors';
  if (merged && config.peft_type === 'MTL_LORA' && inputs.task === undefined) {
    throw new ExportError(
      `${format} of an MTL-LoRA adapter merges one task: choose one of ${config.metalora.tasks.join(', ')}.`,
    );
  }
  if (!merged && inputs.dtype !== undefined)
    throw new ExportError(`a precision applies to merged exports, not to ${format}`);
  const notes: string[] = [];
  if (format === 'pytorch') {
    if (!inputs.run)
      throw new ExportError("the pytorch export needs the run's tasks (the training data) as well as the adapter");
    if (inputs.task !== undefined)
      throw new ExportError('the pytorch export reproduces the whole run: --task does not apply');
    const files = await pytorchRecipeFiles(config, inputs.base, d, inputs.run, notes);
    return {
      files: [
        ...files,
        ...reportFiles(
          { config, metrics: inputs.metrics ?? [], data: inputs.data, base: { name: d.name, config: cfg } },
          { format, task: null, files: files.map((f) => f.name), notes },
        ),
      ],
      notes,
    };
  }
  const loras = plainLoras(inputs.adapter, cfg, inputs.task);
  let files: ExportFile[];
  switch (format) {
    case 'peft': {
      files = peftExport(loras, config, cfg, inputs.baseName ?? config.base_model_name_or_path);
      notes.push(...reorderNote(loras[0], cfg.ropePairing, HF_PAIRING, 'Hugging Face'));
      if (inputs.base.kind !== 'hf') {
        notes.push(
          'The base was not a Hugging Face folder: set base_model_name_or_path in adapter_config.json to the ' +
            'Hugging Face repository of the same model before loading the adapter with PEFT.',
        );
      }
      break;
    }
    case 'gguf': {
      const names = taskFileNames(loras.map((l) => l.task ?? ''));
      files = loras.map((l, i) => ({
        name: l.task === null ? 'adapter.gguf' : `adapter-${names[i]}.gguf`,
        parts: ggufLoraFile(l, cfg, l.task === null ? `${d.name} LoRA` : `${d.name} LoRA (${l.task})`),
      }));
      notes.push(...reorderNote(loras[0], cfg.ropePairing, ggufPairing(cfg.arch), 'llama.cpp'));
      break;
    }
    default: {
      const stored = d.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.dtype ?? 'F32';
      const dtype = inputs.dtype ?? defaultMergedDtype(format, stored);
      if (!ALLOWED[format].includes(dtype))
        throw new ExportError(`${format} is written as ${ALLOWED[format].join(', ')}, not ${dtype}`);
      files =
        format === 'merged-gguf'
          ? [
              {
                name: `model-${dtype.toLowerCase()}.gguf`,
                parts: await mergedGgufFile(inputs.base, d, loras[0], dtype as MergedGgufType, notes),
              },
            ]
          : await mergedHfFiles(inputs.base, d, loras[0], dtype as MergedHfDtype, notes);
      const quantized = [...new Set(d.tensors.filter((t) => QUANTIZED.includes(t.dtype)).map((t) => t.dtype))];
      if (quantized.length) {
        notes.push(
          `The base stores quantized weights (${quantized.join(', ')}): they were dequantized, merged with the ` +
            `adapter in float64 and re-encoded as ${dtype}; the merged model keeps the base's quantization error` +
            `${dtype === 'Q8_0' ? ' plus Q8_0 rounding' : ''}.`,
        );
      }
    }
  }
  const report = reportFiles(
    { config, metrics: inputs.metrics ?? [], data: inputs.data, base: { name: d.name, config: cfg } },
    { format, task: inputs.task ?? null, files: files.map((f) => f.name), notes },
  );
  return { files: [...files, ...report], notes };
}
