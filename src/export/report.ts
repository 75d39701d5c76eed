// The training report that goes beside every export: what was trained (method, seed, every setting, tasks and
// how many examples each had), on which base, what the export did (format, files, notes), and the curves —
// the metrics rows of src/train/metrics.ts — as JSON (training_report.json) and as CSV (training_metrics.csv)
// for spreadsheets. Nothing here depends on when it was written, so the same run exports the same report.

import type { LlamaConfig } from '../model/config';
import { MEAN_TASK, type MetricsRecord } from '../train/metrics';
import type { AdapterConfig } from './adapterData';
import { type ExportFile, jsonFile, textFile } from './files';

export const REPORT_JSON = 'training_report.json';
export const REPORT_CSV = 'training_metrics.csv';

/** Examples per task: the training pool and, when known, the held-out set. */
export interface TaskDataCount {
  task: string;
  train: number;
  heldOut?: number;
}

export interface ReportInputs {
  config: AdapterConfig;
  metrics: readonly MetricsRecord[];
  data?: readonly TaskDataCount[];
  base: { name: string; config: LlamaConfig };
}

export interface ExportSummary {
  format: string;
  /** MTL-LoRA: the task exported, or null for all of them (or for a plain LoRA). */
  task: string | null;
  files: string[];
  notes: string[];
}

const CSV_COLUMNS = [
  'iteration',
  'task',
  'support_loss',
  'query_loss',
  'eval_loss',
  'grad_norm',
  'lr',
  'tokens_per_s',
] as const;

/** A CSV field: numbers as JSON writes them, absent or null as empty, text quoted when it needs to be. */
function csvField(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function metricsCsv(rows: readonly MetricsRecord[]): string {
  const lines = rows.map((r) => CSV_COLUMNS.map((c) => csvField(r[c])).join(','));
  return `${[CSV_COLUMNS.join(','), ...lines].join('\n')}\n`;
}

/** The last value of `field` per task (mean row included), for the report's summary. */
function lastValues(
  rows: readonly MetricsRecord[],
  field: 'query_loss' | 'eval_loss',
): Record<string, { iteration: number; value: number }> {
  const out: Record<string, { iteration: number; value: number }> = {};
  for (const r of rows) {
    const v = r[field];
    if (typeof v === 'number') out[r.task] = { iteration: r.iteration, value: v };
  }
  return out;
}

export function reportFiles(r: ReportInputs, exported: ExportSummary): ExportFile[] {
  const { metalora, ...peft } = r.config;
  const training = r.metrics.filter((m) => m.task === MEAN_TASK && m.eval_loss === undefined);
  const report = {
    format: 'metalora-training-report',
    version: 1,
    export: exported,
    method: metalora.method,
    seed: metalora.settings.seed,
    tasks: metalora.tasks,
    data: r.data ?? null,
    iterations: {
      planned: metalora.settings.iterations,
      logged: training.length ? training[training.length - 1].iteration : 0,
    },
    settings: metalora.settings,
    adapter: { peft_type: peft.peft_type, r: peft.r, lora_alpha: peft.lora_alpha, target_modules: peft.target_modules },
    base: { name: r.base.name, config: r.base.config },
    summary: {
      final_query_loss: lastValues(r.metrics, 'query_loss'),
      final_eval_loss: lastValues(r.metrics, 'eval_loss'),
    },
    metrics: r.metrics,
  };
  return [jsonFile(REPORT_JSON, report), textFile(REPORT_CSV, metricsCsv(r.metrics))];
}
