// `cli export DIR --format peft|gguf|merged-safetensors|merged-gguf --out PATH`: turns an adapter folder
// written by `cli train --out DIR` into files other tools load (src/export does the work; this module only
// reads and writes files). --out is a folder that receives the files, or a path ending in .zip for one zip of
// them. The base model is the adapter config's base_model_name_or_path unless --base names another copy; every
// format reads its headers (shapes, Q/K row order), the merged ones its weights. MTL-LoRA: peft and gguf
// export every task (or --task NAME), merged formats one task (--task NAME, required). The training report
// (settings, data counts from DIR/checkpoint.json, curves from DIR/metrics.jsonl) goes beside the export.

import { existsSync, mkdirSync } from 'node:fs';
import { open, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EXPORT_FORMATS, type ExportFormat, exportAdapter } from '../export';
import { type ExportFile, fileSize } from '../export/files';
import type { TaskDataCount } from '../export/report';
import type { MergedDtype } from '../export/tensorCodec';
import { zipFiles } from '../export/zip';
import { type MetricsRecord, parseMetricsJsonl } from '../train/metrics';
import { readAdapterDir } from './adapterDir';
import { UsageError, parseCommandArgs, withModelFiles } from './args';

const USAGE = 'npm run cli -- export DIR --format peft|gguf|merged-safetensors|merged-gguf --out PATH ' +
  '[--base <model>] [--tokenizer tokenizer.bin] [--task NAME] [--dtype f32|f16|bf16|q8_0]';

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

/** Writes one file part by part (a merged model is never joined into one buffer). */
async function writeParts(path: string, f: ExportFile): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  try {
    for (const p of f.parts) await handle.write(p);
  } finally {
    await handle.close();
  }
}

export async function exportCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    format: { type: 'string' },
    out: { type: 'string' },
    base: { type: 'string' },
    tokenizer: { type: 'string' },
    task: { type: 'string' },
    dtype: { type: 'string' },
  }, USAGE);
  if (positionals.length !== 1) throw new UsageError(`expected one adapter folder DIR (written by train --out DIR).\nusage: ${USAGE}`);
  const dir = positionals[0];
  const format = values.format as ExportFormat;
  if (!EXPORT_FORMATS.includes(format)) throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}.\nusage: ${USAGE}`);
  if (values.out === undefined) throw new UsageError(`--out PATH is required (a folder, or a .zip file).\nusage: ${USAGE}`);
  const out = values.out;
  const dtype = values.dtype?.toUpperCase() as MergedDtype | undefined;
  if (dtype !== undefined && !DTYPES.includes(dtype)) throw new UsageError(`--dtype ${values.dtype}: expected f32, f16, bf16 or q8_0.`);

  const adapter = await readAdapterDir(dir);
  const basePath = values.base ?? adapter.config.base_model_name_or_path;
  if (!existsSync(basePath)) {
    throw new UsageError(`the base model ${basePath} (${values.base ? '--base' : `from ${join(dir, 'adapter_config.json')}`}) ` +
      'does not exist here: pass --base <model> with the model the adapter was trained on.');
  }
  const result = await withModelFiles(basePath, values.tokenizer, async (base) => exportAdapter(format, {
    adapter, base, metrics: await readMetrics(dir), data: await readDataCounts(dir), task: values.task, dtype,
  }));
  if (out.endsWith('.zip')) {
    mkdirSync(dirname(out), { recursive: true });
    await writeFile(out, zipFiles(result.files));
  } else {
    for (const f of result.files) await writeParts(join(out, f.name), f);
  }
  for (const n of result.notes) console.error(`note: ${n}`);
  console.log(JSON.stringify({
    format, out, files: result.files.map((f) => ({ name: f.name, bytes: fileSize(f) })), notes: result.notes,
  }, null, 2));
}
