// `cli train <model> --task NAME=FILE ... --out DIR`: trains an adapter with the chosen method (docs/DESIGN.md §3)
// and writes DIR/metrics.jsonl (as it goes), DIR/adapter_model.safetensors + adapter_config.json (at the end)
// and a resumable checkpoint (DIR/checkpoint.json + tensors, every --checkpoint-every iterations and at the
// end). Every training setting is a flag (--inner-lr 0.1 or --innerLr 0.1); --preset sets a group first.
// Progress goes to stderr. A non-finite loss stops the run without writing the adapter; the last good
// checkpoint stays, and --resume continues from it.
// Task files may be in any format src/data reads (JSONL, JSON, CSV, TSV); the schema is detected and the
// dataset flags (--schema, --template, …) adjust the mapping for every --task. Each file's validation report
// goes to stderr. eval shares the task reading below, so the same flags give it the same examples.

import { appendFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  type DataTask,
  DatasetError,
  type FieldMapping,
  type SchemaId,
  type Table,
  applyMapping,
  checkFileSize,
  compileMapping,
  detectMapping,
  formatReport,
  mappingForSchema,
  readTable,
} from '../data';
import { ChatTemplate } from '../io/chatTemplate';
import type { Tokenizer } from '../io/tokenizer';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { CHECKPOINT_JSON, directoryCheckpointStore } from '../train/checkpointStore';
import { MEAN_TASK, type MetricsRecord, metricsLine } from '../train/metrics';
import { presetSettings } from '../train/presets';
import { prepareTasks, runTraining } from '../train/run';
import {
  DEFAULT_SETTINGS,
  SETTING_INFO,
  type SettingKey,
  type TrainMethod,
  type TrainSettings,
  parseSettingValue,
  resolveSettings,
} from '../train/settings';
import { MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { adapterConfig, writeAdapterDir } from './adapterDir';
import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { type Flags, defineCommand, parseCommandArgs, usageLine } from './flags';

export const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const SETTING_KEYS = Object.keys(DEFAULT_SETTINGS) as SettingKey[];

/** The flags that shape how task files become examples; train, eval and study take them. */
export const DATA_FLAGS = {
  task: {
    type: 'string',
    multiple: true,
    value: 'NAME=FILE',
    required: true,
    group: 'dataset flags',
    help: 'a task file: JSONL, JSON, CSV or TSV (schema detected; a task column splits it into tasks); repeat for more tasks',
  },
  schema: {
    type: 'string',
    value: 'ID',
    group: 'dataset flags',
    defaultText: 'detected from the columns',
    help: "use this schema's mapping (e.g. gsm8k-final, llm-adapters-output)",
  },
  template: {
    type: 'string',
    value: 'TEXT',
    group: 'dataset flags',
    defaultText: "the schema's",
    help: 'prompt template with {field} placeholders (\\n = newline)',
  },
  completion: {
    type: 'string',
    value: 'TEXT',
    group: 'dataset flags',
    defaultText: "the schema's",
    help: 'completion template, e.g. " {answer|final}"',
  },
  labels: {
    type: 'string',
    value: 'V=WORD,...',
    group: 'dataset flags',
    defaultText: "the schema's",
    help: 'label → answer-word map for classification (e.g. 0=negative,1=positive)',
  },
  'task-column': {
    type: 'string',
    value: 'COL|none',
    group: 'dataset flags',
    defaultText: 'a column named task, if any',
    help: "the column naming each row's task",
  },
  'chat-template': { type: 'boolean', group: 'dataset flags', help: "format prompts with the model's chat template" },
  'max-length-policy': {
    type: 'string',
    choices: ['truncate', 'skip'],
    default: 'truncate',
    group: 'dataset flags',
    help: 'what to do with examples longer than --max-seq-len tokens',
  },
  'keep-duplicates': {
    type: 'boolean',
    group: 'dataset flags',
    help: 'keep exact duplicate examples (dropped otherwise; reported either way)',
  },
} as const;

/** A setting as a flag value: lists comma-separated, as parseSettingValue reads them. */
const settingText = (v: unknown) => (Array.isArray(v) ? v.join(',') || 'none' : String(v));

/**
 * One flag per training setting under its kebab-case name, its camelCase key accepted too (unlisted). The
 * default shown is DEFAULT_SETTINGS'; the parser fills none in, because --preset and the method choose first.
 */
export function settingFlags(except: readonly SettingKey[] = []): Flags {
  const out: Flags = {};
  for (const k of SETTING_KEYS.filter((key) => !except.includes(key))) {
    const flag = {
      type: 'string',
      value: 'V',
      help: SETTING_INFO[k].help,
      defaultText: settingText(DEFAULT_SETTINGS[k]),
      group: 'settings (--preset changes the defaults; flags apply on top)',
    } as const;
    out[kebab(k)] = flag;
    if (kebab(k) !== k) out[k] = { ...flag, hidden: true };
  }
  return out;
}

export const TRAIN = defineCommand({
  name: 'train',
  args: '<model>',
  summary: 'train an adapter (meta-lora, meta-lora-no-sta, lora, mtl-lora) on --task NAME=FILE ... into --out DIR',
  flags: {
    out: {
      type: 'string',
      value: 'DIR',
      required: true,
      help: 'the folder for the adapter, metrics.jsonl and the checkpoint',
    },
    preset: {
      type: 'string',
      value: 'ID',
      defaultText: 'none',
      help: 'a named group of settings, applied before the setting flags',
    },
    resume: { type: 'boolean', help: "continue from DIR's checkpoint" },
    recompute: {
      type: 'boolean',
      help: "keep only each block's input in the forward pass and recompute the rest in backward (less memory)",
    },
    ...MODEL_FLAGS,
    ...KERNEL_FLAGS,
    ...DATA_FLAGS,
    ...settingFlags(),
  },
});

/** The parsed DATA_FLAGS. */
interface DataValues {
  task?: string[];
  schema?: string;
  template?: string;
  completion?: string;
  labels?: string;
  'task-column'?: string;
  'chat-template'?: boolean;
  'max-length-policy'?: string;
  'keep-duplicates'?: boolean;
}

/** A --task file, read and with its mapping checked, before any model is loaded. */
export interface TaskFile {
  name: string;
  file: string;
  table: Table;
  mapping: FieldMapping;
}

/** "0=negative,1=positive" → {"0": "negative", "1": "positive"}. */
function parseLabels(text: string): Record<string, string> {
  const entries = text.split(',').map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--labels ${text}: expected VALUE=WORD pairs separated by commas.`);
    return [pair.slice(0, eq).trim(), pair.slice(eq + 1)] as const;
  });
  return Object.fromEntries(entries);
}

/** Dataset flags that change a mapping (with none given, a recorded mapping is reused as it is). */
const MAPPING_FLAGS = ['schema', 'template', 'completion', 'task-column', 'chat-template', 'labels'] as const;

/** What `train` records in DIR/tasks.json, so `eval` reads each task's file exactly as training did. */
export const TASKS_JSON = 'tasks.json';
export interface RecordedTask {
  name: string;
  file: string;
  mapping: FieldMapping;
}

/** The detected (or --schema) mapping with the dataset flags applied; or, without flags, the recorded one. */
function mappingFor(name: string, table: Table, v: DataValues, recorded?: FieldMapping): FieldMapping {
  if (recorded && MAPPING_FLAGS.every((f) => v[f] === undefined || v[f] === false)) return recorded;
  const m = v.schema !== undefined ? mappingForSchema(table, v.schema as SchemaId) : detectMapping(table);
  const unescape = (t: string) => t.replaceAll('\\n', '\n');
  const mapping: FieldMapping = { ...m, taskName: name };
  if (v.template !== undefined) mapping.prompt = unescape(v.template);
  if (v.completion !== undefined) mapping.completion = unescape(v.completion);
  if (v['task-column'] !== undefined) mapping.taskColumn = v['task-column'] === 'none' ? null : v['task-column'];
  if (v['chat-template']) mapping.format = 'chat';
  if (v.labels !== undefined) {
    if (!mapping.answer)
      throw new UsageError(`--task ${name}: --labels needs a classification schema (${table.file} is ${m.schema}).`);
    mapping.answer = { ...mapping.answer, labels: parseLabels(v.labels), choices: 'labels' };
  }
  return mapping;
}

/**
 * NAME=FILE pairs: each file read, its format and schema detected (or the mapping `recorded` for NAME reused),
 * the mapping checked against it.
 */
export async function readTaskArgs(
  v: DataValues,
  usage: string,
  recorded: readonly RecordedTask[] = [],
): Promise<TaskFile[]> {
  if (!v.task || v.task.length === 0)
    throw new UsageError(`at least one --task NAME=FILE is required.\nusage: ${usage}`);
  const policy = v['max-length-policy'];
  if (policy !== undefined && policy !== 'truncate' && policy !== 'skip') {
    throw new UsageError(`--max-length-policy ${policy}: expected truncate or skip.`);
  }
  return Promise.all(
    v.task.map(async (arg) => {
      const eq = arg.indexOf('=');
      if (eq <= 0 || eq === arg.length - 1) {
        throw new UsageError(`--task ${arg}: expected NAME=FILE (a JSONL, JSON, CSV or TSV file of examples).`);
      }
      const [name, file] = [arg.slice(0, eq), arg.slice(eq + 1)];
      try {
        // The size is checked before reading, so an oversized file costs nothing.
        checkFileSize(basename(file), (await stat(file)).size);
        const table = readTable(basename(file), new Uint8Array(await readFile(file)));
        const mapping = mappingFor(name, table, v, recorded.find((r) => r.name === name)?.mapping);
        compileMapping(table, mapping);
        return { name, file, table, mapping };
      } catch (e) {
        if (e instanceof DatasetError || e instanceof UsageError) throw new UsageError(`--task ${name}: ${e.message}`);
        throw new UsageError(
          `--task ${name}: cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`,
        );
      }
    }),
  );
}

/**
 * The tasks of every file under the model's tokenizer (examples over `maxLength` tokens truncated or skipped
 * per --max-length-policy) and chat template; prints each file's validation report to stderr.
 */
export function buildTasks(
  files: TaskFile[],
  v: DataValues,
  model: { tokenizer: Tokenizer; chatTemplate?: string; maxLength: number; eos: boolean },
): DataTask[] {
  const chat = files.some((f) => f.mapping.format === 'chat');
  if (chat && model.chatTemplate === undefined)
    throw new UsageError('--chat-template: this model has no chat template.');
  const chatTemplate = chat ? new ChatTemplate(model.chatTemplate!) : undefined;
  const tokens = {
    tokenizer: model.tokenizer,
    maxLength: model.maxLength,
    eos: model.eos,
    policy: (v['max-length-policy'] ?? 'truncate') as 'truncate' | 'skip',
  };
  return files.flatMap(({ name, file, table, mapping }) => {
    const { tasks, report } = applyMapping(table, mapping, {
      duplicates: v['keep-duplicates'] ? 'keep' : 'drop',
      tokens,
      chatTemplate,
    });
    console.error(`--task ${name}: ${formatReport(report)}`);
    if (tasks.length === 0)
      throw new UsageError(`--task ${name}: no usable examples in ${file} (see the report above).`);
    return tasks;
  });
}

/** The settings given as flags (kebab-case or camelCase), parsed. */
export function settingOverrides(values: Record<string, unknown>): Partial<TrainSettings> {
  const overrides: Partial<TrainSettings> = {};
  for (const k of SETTING_KEYS) {
    const given = (values[kebab(k)] ?? values[k]) as string | undefined;
    if (given !== undefined) Object.assign(overrides, parseSettingValue(k, given));
  }
  return overrides;
}

/** Settings for `method` from --preset (if any) with `overrides` on top. */
export function settingsWith(
  preset: string | undefined,
  method: TrainMethod,
  overrides: Partial<TrainSettings>,
): TrainSettings {
  return preset === undefined ? resolveSettings(method, overrides) : presetSettings(preset, method, overrides);
}

function settingsFrom(values: Record<string, unknown>): TrainSettings {
  const overrides = settingOverrides(values);
  return settingsWith(
    values.preset as string | undefined,
    (overrides.method ?? DEFAULT_SETTINGS.method) as TrainMethod,
    overrides,
  );
}

const fmt = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');

function progress(rows: MetricsRecord[], total: number): void {
  const mean = rows.find((r) => r.task === MEAN_TASK);
  if (!mean) return;
  if (mean.eval_loss !== undefined) {
    const per = rows
      .filter((r) => r.task !== MEAN_TASK)
      .map((r) => `${r.task} ${fmt(r.eval_loss)}`)
      .join(', ');
    console.error(`eval @${mean.iteration}: held-out loss ${fmt(mean.eval_loss)} (${per})`);
    return;
  }
  console.error(
    `iter ${mean.iteration}/${total}  query ${fmt(mean.query_loss)}  support ${fmt(mean.support_loss)}  ` +
      `grad ${fmt(mean.grad_norm)}  lr ${mean.lr.toExponential(2)}  ${mean.tokens_per_s.toFixed(0)} tok/s`,
  );
}

export async function trainCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, TRAIN);
  const path = modelArgument(positionals, usageLine(TRAIN));
  const out = values.out;
  const settings = settingsFrom(values);
  const quant = values.quant;
  const taskFiles = await readTaskArgs(values, usageLine(TRAIN));
  if (!values.resume && existsSync(join(out, CHECKPOINT_JSON))) {
    throw new UsageError(
      `${out} already holds a training checkpoint: pass --resume to continue it, or choose another --out.`,
    );
  }

  await withModelFiles(path, values.tokenizer, async (files) => {
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok)
      throw new UsageError(
        `${path} has no tokenizer (for a llama2.c .bin put tokenizer.bin beside it or pass --tokenizer).`,
      );
    const data = buildTasks(taskFiles, values, {
      tokenizer: tok,
      chatTemplate: description.chatTemplate,
      maxLength: settings.maxSeqLen,
      eos: settings.appendEos,
    });
    const tasks = prepareTasks(tok, data, settings);
    mkdirSync(out, { recursive: true });
    const record: RecordedTask[] = taskFiles.map(({ name, file, mapping }) => ({ name, file, mapping }));
    writeFileSync(join(out, TASKS_JSON), `${JSON.stringify(record, null, 2)}\n`);
    const metricsFile = join(out, 'metrics.jsonl');
    writeFileSync(metricsFile, '');
    const ctx = await openGpu(parseKernelSetting(values.kernels));
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const sizes = tasks.map((t) => `${t.name} (${t.train.length} train, ${t.eval.length} held out)`).join(', ');
      console.error(
        `training ${settings.method} on ${sizes} for ${settings.iterations} iterations (${ctx.adapterName})`,
      );
      const result = await runTraining({
        ctx,
        model: { weights, config: description.config },
        tasks,
        settings,
        store: directoryCheckpointStore(out),
        resume: values.resume,
        recompute: values.recompute,
        onRecords: (rows, restored) => {
          appendFileSync(metricsFile, rows.map((r) => `${metricsLine(r)}\n`).join(''));
          if (!restored) progress(rows, settings.iterations);
        },
      });
      if (result.resumedFrom !== null) console.error(`resumed from the checkpoint at iteration ${result.resumedFrom}`);
      const config = adapterConfig(
        result.adapter,
        settings,
        tasks.map((t) => t.name),
        path,
        description.config.ropePairing,
      );
      await writeAdapterDir(ctx, out, result.adapter, config);
      result.adapter.release();
      releaseWeights(weights);
      console.error(
        `wrote ${join(out, 'adapter_model.safetensors')}, adapter_config.json, metrics.jsonl and the checkpoint ` +
          `(iteration ${result.iteration})`,
      );
    } finally {
      ctx.destroy();
    }
  });
}
