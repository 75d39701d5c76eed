// `cli train <model> --task NAME=FILE ... --out DIR`: trains an adapter with the chosen method (DESIGN.md §3)
// and writes DIR/metrics.jsonl (as it goes), DIR/adapter_model.safetensors + adapter_config.json (at the end)
// and a resumable checkpoint (DIR/checkpoint.json + tensors, every --checkpoint-every iterations and at the
// end). Every training setting is a flag (--inner-lr 0.1 or --innerLr 0.1); --preset sets a group first.
// Progress goes to stderr. A non-finite loss stops the run without writing the adapter; the last good
// checkpoint stays, and --resume continues from it.

import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpuContext } from '../gpu/context';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { CHECKPOINT_JSON, directoryCheckpointStore } from '../train/checkpointStore';
import { MEAN_TASK, type MetricsRecord, metricsLine } from '../train/metrics';
import { presetSettings } from '../train/presets';
import { prepareTasks, runTraining } from '../train/run';
import {
  DEFAULT_SETTINGS, SETTING_INFO, type SettingKey, type TrainMethod, type TrainSettings, parseSettingValue, resolveSettings,
} from '../train/settings';
import { type Task, parseTaskJsonl } from '../train/tasks';
import { UsageError, modelArgument, parseCommandArgs, parseQuant, withModelFiles } from './args';
import { adapterConfig, writeAdapterDir } from './adapterDir';

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const SETTING_KEYS = Object.keys(DEFAULT_SETTINGS) as SettingKey[];

const USAGE = 'npm run cli -- train <model> --task NAME=FILE [--task NAME=FILE ...] ' +
  '--method meta-lora|meta-lora-no-sta|lora|mtl-lora --out DIR [--iterations N] [--seed S] [--preset ID] [--resume] ' +
  '[--recompute] [--tokenizer tokenizer.bin] [--quant keep|q8_0|q4_0] [--<setting> VALUE ...]\n\nsettings:\n' +
  SETTING_KEYS.map((k) => `  --${kebab(k).padEnd(24)} ${SETTING_INFO[k].help} (default ${JSON.stringify(DEFAULT_SETTINGS[k])})`).join('\n');

/** One option per setting, under its kebab-case name and (where different) its camelCase key. */
function settingOptions(): Record<string, { type: 'string' }> {
  const out: Record<string, { type: 'string' }> = {};
  for (const k of SETTING_KEYS) {
    out[k] = { type: 'string' };
    out[kebab(k)] = { type: 'string' };
  }
  return out;
}

/** NAME=FILE pairs, read and parsed (training ignores any `choices` field). */
export async function readTaskArgs(values: string[] | undefined, usage: string): Promise<{ task: Task; text: string; file: string }[]> {
  if (!values || values.length === 0) throw new UsageError(`at least one --task NAME=FILE is required.\nusage: ${usage}`);
  return Promise.all(values.map(async (v) => {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) {
      throw new UsageError(`--task ${v}: expected NAME=FILE (a JSONL file of {"prompt", "completion"} lines).`);
    }
    const [name, file] = [v.slice(0, eq), v.slice(eq + 1)];
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      throw new UsageError(`--task ${name}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
    }
    return { task: parseTaskJsonl(name, text), text, file };
  }));
}

function settingsFrom(values: Record<string, unknown>): TrainSettings {
  const overrides: Partial<TrainSettings> = {};
  for (const k of SETTING_KEYS) {
    const given = (values[kebab(k)] ?? values[k]) as string | undefined;
    if (given !== undefined) Object.assign(overrides, parseSettingValue(k, given));
  }
  const method = (overrides.method ?? DEFAULT_SETTINGS.method) as TrainMethod;
  const preset = values.preset as string | undefined;
  return preset === undefined ? resolveSettings(method, overrides) : presetSettings(preset, method, overrides);
}

const fmt = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');

function progress(rows: MetricsRecord[], total: number): void {
  const mean = rows.find((r) => r.task === MEAN_TASK);
  if (!mean) return;
  if (mean.eval_loss !== undefined) {
    const per = rows.filter((r) => r.task !== MEAN_TASK).map((r) => `${r.task} ${fmt(r.eval_loss)}`).join(', ');
    console.error(`eval @${mean.iteration}: held-out loss ${fmt(mean.eval_loss)} (${per})`);
    return;
  }
  console.error(`iter ${mean.iteration}/${total}  query ${fmt(mean.query_loss)}  support ${fmt(mean.support_loss)}  ` +
    `grad ${fmt(mean.grad_norm)}  lr ${mean.lr.toExponential(2)}  ${mean.tokens_per_s.toFixed(0)} tok/s`);
}

export async function trainCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    task: { type: 'string', multiple: true },
    out: { type: 'string' },
    preset: { type: 'string' },
    resume: { type: 'boolean' },
    recompute: { type: 'boolean' },
    tokenizer: { type: 'string' },
    quant: { type: 'string' },
    ...settingOptions(),
  }, USAGE);
  const path = modelArgument(positionals, USAGE);
  if (values.out === undefined) throw new UsageError(`--out DIR is required.\nusage: ${USAGE}`);
  const out = values.out;
  const settings = settingsFrom(values);
  const quant = parseQuant(values.quant);
  const taskFiles = await readTaskArgs(values.task, USAGE);
  if (!values.resume && existsSync(join(out, CHECKPOINT_JSON))) {
    throw new UsageError(`${out} already holds a training checkpoint: pass --resume to continue it, or choose another --out.`);
  }

  await withModelFiles(path, values.tokenizer, async (files) => {
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok) throw new UsageError(`${path} has no tokenizer (for a llama2.c .bin put tokenizer.bin beside it or pass --tokenizer).`);
    const tasks = prepareTasks(tok, taskFiles.map((t) => t.task), settings);
    mkdirSync(out, { recursive: true });
    const metricsFile = join(out, 'metrics.jsonl');
    writeFileSync(metricsFile, '');
    const ctx = await GpuContext.create();
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const sizes = tasks.map((t) => `${t.name} (${t.train.length} train, ${t.eval.length} held out)`).join(', ');
      console.error(`training ${settings.method} on ${sizes} for ${settings.iterations} iterations (${ctx.adapterName})`);
      const result = await runTraining({
        ctx, model: { weights, config: description.config }, tasks, settings, store: directoryCheckpointStore(out),
        resume: values.resume, recompute: values.recompute,
        onRecords: (rows, restored) => {
          appendFileSync(metricsFile, rows.map((r) => `${metricsLine(r)}\n`).join(''));
          if (!restored) progress(rows, settings.iterations);
        },
      });
      if (result.resumedFrom !== null) console.error(`resumed from the checkpoint at iteration ${result.resumedFrom}`);
      await writeAdapterDir(ctx, out, result.adapter, adapterConfig(result.adapter, settings, tasks.map((t) => t.name), path));
      result.adapter.release();
      releaseWeights(weights);
      console.error(`wrote ${join(out, 'adapter_model.safetensors')}, adapter_config.json, metrics.jsonl and the checkpoint ` +
        `(iteration ${result.iteration})`);
    } finally {
      ctx.destroy();
    }
  });
}
