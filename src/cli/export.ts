// `cli export DIR --format peft|gguf|merged-safetensors|merged-gguf|pytorch --out PATH`: turns an adapter folder
// written by `cli train --out DIR` into files other tools load (src/export does the work; this module only
// reads and writes files). --out is a .gguf / .safetensors file for a one-file export, a folder that receives
// the files, or a path ending in .zip for one zip of them (exportLayout.ts). The base model is the adapter
// config's base_model_name_or_path unless --base names another copy; every
// format reads its headers (shapes, Q/K row order), the merged ones its weights. MTL-LoRA: peft and gguf
// export every task (or --task NAME), merged formats one task (--task NAME, required). The training report
// (settings, data counts from DIR/checkpoint.json, curves from DIR/metrics.jsonl) goes beside the export.
// pytorch also reads the run's task files again (recipeRun.ts) for the recipe's token ids.

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EXPORT_FORMATS, exportAdapter } from '../export';
import { fileSize } from '../export/files';
import type { TaskDataCount } from '../export/report';
import type { MergedDtype } from '../export/tensorCodec';
import { zipFiles } from '../export/zip';
import { type MetricsRecord, parseMetricsJsonl } from '../train/metrics';
import { describeModel } from '../model/load';
import { readAdapterDir } from './adapterDir';
import { recipeRun } from './recipeRun';
import { UsageError, withModelFiles } from './args';
import { exportLayout } from './exportLayout';
import { defineCommand, parseCommandArgs, usageLine } from './flags';
import { writeParts } from './writeParts';

export const EXPORT = defineCommand({
  name: 'export',
  args: 'DIR',
  summary: 'an adapter folder as a PEFT adapter, a GGUF LoRA, merged safetensors / GGUF weights, or a PyTorch recipe',
  flags: {
    format: { type: 'string', choices: EXPORT_FORMATS, required: true, help: 'what to write' },
    out: {
      type: 'string',
      value: 'PATH',
      required: true,
      help: 'a .gguf or .safetensors file (one-file exports), a folder (PATH/ or any other name), or a .zip',
    },
    base: {
      type: 'string',
      value: '<model>',
      help: 'the base model (another copy of the one trained on)',
      defaultText: "base_model_name_or_path in DIR's adapter_config.json",
    },
    tokenizer: {
      type: 'string',
      value: 'FILE',
      help: 'the tokenizer of a llama2.c .bin base (merged-gguf writes it into the file)',
      defaultText: 'tokenizer.bin or tok*.bin beside the .bin',
    },
    task: {
      type: 'string',
      value: 'NAME',
      help: 'MTL-LoRA: the task to export',
      defaultText: 'every task for peft and gguf; merged formats need one',
    },
    dtype: {
      type: 'string',
      value: 'f32|f16|bf16|q8_0',
      help: 'merged formats: the precision written',
      defaultText: 'f16; q8_0 in GGUF for a quantized base; bf16 kept in safetensors',
    },
  },
});

const DTYPES: readonly MergedDtype[] = ['F32', 'F16', 'BF16', 'Q8_0'];

async function readMetrics(dir: string): Promise<MetricsRecord[]> {
  const path = join(dir, 'metrics.jsonl');
  return existsSync(path) ? parseMetricsJsonl(await readFile(path, 'utf8')) : [];
}

/** Training pool sizes per task, from the checkpoint train writes beside the adapter (absent: unknown). */
async function readDataCounts(dir: string): Promise<TaskDataCount[] | undefined> {
  const path = join(dir, 'checkpoint.json');
  if (!existsSync(path)) return undefined;
  const { tasks } = JSON.parse(await readFile(path, 'utf8')) as { tasks?: { name: string; poolSize: number }[] };
  return tasks?.map((t) => ({ task: t.name, train: t.poolSize }));
}

export async function exportCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, EXPORT);
  const usage = usageLine(EXPORT);
  if (positionals.length !== 1)
    throw new UsageError(`expected one adapter folder DIR (written by train --out DIR).\n${usage}`);
  const dir = positionals[0];
  const format = values.format;
  const out = values.out;
  const dtype = values.dtype?.toUpperCase() as MergedDtype | undefined;
  if (dtype !== undefined && !DTYPES.includes(dtype))
    throw new UsageError(`--dtype ${values.dtype}: expected f32, f16, bf16 or q8_0.`);

  const adapter = await readAdapterDir(dir);
  const basePath = values.base ?? adapter.config.base_model_name_or_path;
  if (!existsSync(basePath)) {
    throw new UsageError(
      `the base model ${basePath} (${values.base ? '--base' : `from ${join(dir, 'adapter_config.json')}`}) ` +
        'does not exist here: pass --base <model> with the model the adapter was trained on.',
    );
  }
  const result = await withModelFiles(basePath, values.tokenizer, async (base) =>
    exportAdapter(format, {
      adapter,
      base,
      metrics: await readMetrics(dir),
      data: await readDataCounts(dir),
      task: values.task,
      dtype,
      run:
        format === 'pytorch'
          ? await recipeRun(dir, adapter.config, await describeModel(base), base, basePath)
          : undefined,
    }),
  );
  const layout = exportLayout(
    out,
    result.files.map((f) => f.name),
    format,
    existsSync(out) && statSync(out).isDirectory(),
  );
  if (layout.zip) {
    mkdirSync(dirname(layout.zip), { recursive: true });
    await writeFile(layout.zip, zipFiles(result.files));
  } else {
    for (const f of result.files) await writeParts(layout.paths.get(f.name)!, f);
  }
  const notes = [...result.notes, ...layout.notes];
  for (const n of notes) console.error(`note: ${n}`);
  console.log(
    JSON.stringify(
      {
        format,
        out,
        files: result.files.map((f) => ({ name: f.name, path: layout.paths.get(f.name), bytes: fileSize(f) })),
        notes,
      },
      null,
      2,
    ),
  );
}
