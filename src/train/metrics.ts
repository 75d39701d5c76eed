// Training metrics: one record per (iteration, task) plus a mean row per iteration, written as JSON Lines
// (`metrics.jsonl`, the CLI contract: iteration, task, support_loss, query_loss, lr, tokens_per_s) and kept
// in a small in-memory series store that the UI's charts read.

import { MEAN_TASK } from '../data/tasks';

/** The `task` of an iteration's mean row (defined with the task-naming rules, which reserve it). */
export { MEAN_TASK };

export interface MetricsRecord {
  /** 1-based: the record describes the iteration that brought the completed count to this number. */
  iteration: number;
  /** Task name, or MEAN_TASK. */
  task: string;
  /** Support loss before the inner steps (MeTA-LoRA); null where a method has no support pass. */
  support_loss: number | null;
  /** Loss the outer gradient was taken on (the query set; the batch for lora and mtl-lora); null on eval rows. */
  query_loss: number | null;
  /** Outer learning rate of this iteration. */
  lr: number;
  /** Real (unpadded) tokens per second over recent iterations. */
  tokens_per_s: number;
  /** Held-out loss, on rows written by an evaluation. */
  eval_loss?: number | null;
  /** Global gradient norm before clipping (mean rows), when it was read back. */
  grad_norm?: number | null;
}

export type MetricField = 'support_loss' | 'query_loss' | 'lr' | 'tokens_per_s' | 'eval_loss' | 'grad_norm';

export class MetricsFormatError extends Error {
  override name = 'MetricsFormatError';
}

function mean(values: (number | null | undefined)[]): number | null {
  const present = values.filter((v): v is number => typeof v === 'number');
  return present.length === 0 ? null : present.reduce((a, b) => a + b, 0) / present.length;
}

/** The mean row of one iteration's task rows (lr and tokens/s are per iteration: taken from the first). */
export function meanRow(rows: readonly MetricsRecord[]): MetricsRecord {
  if (rows.length === 0) throw new RangeError('meanRow needs at least one row');
  const row: MetricsRecord = {
    iteration: rows[0].iteration,
    task: MEAN_TASK,
    support_loss: mean(rows.map((r) => r.support_loss)),
    query_loss: mean(rows.map((r) => r.query_loss)),
    lr: rows[0].lr,
    tokens_per_s: rows[0].tokens_per_s,
  };
  if (rows.some((r) => r.eval_loss !== undefined)) row.eval_loss = mean(rows.map((r) => r.eval_loss));
  return row;
}

/** One JSONL line (non-finite losses, e.g. a diverged run, become null: JSON has no NaN). */
export function metricsLine(r: MetricsRecord): string {
  return JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v));
}

const NULLABLE: readonly MetricField[] = ['support_loss', 'query_loss'];

export function parseMetricsJsonl(text: string): MetricsRecord[] {
  const out: MetricsRecord[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    let r: Record<string, unknown>;
    try {
      r = JSON.parse(line);
    } catch (e) {
      throw new MetricsFormatError(`metrics line ${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    const bad = (what: string) => new MetricsFormatError(`metrics line ${i + 1}: ${what}`);
    if (typeof r !== 'object' || r === null) throw bad('not an object');
    if (!Number.isInteger(r.iteration)) throw bad('iteration must be an integer');
    if (typeof r.task !== 'string') throw bad('task must be a string');
    for (const f of NULLABLE) if (r[f] !== null && typeof r[f] !== 'number') throw bad(`${f} must be a number or null`);
    for (const f of ['lr', 'tokens_per_s']) if (typeof r[f] !== 'number') throw bad(`${f} must be a number`);
    out.push(r as unknown as MetricsRecord);
  });
  return out;
}

/** Append-only in-memory series with change listeners (the UI store subscribes). */
export class MetricsSeries {
  private rows: MetricsRecord[] = [];
  private listeners = new Set<() => void>();

  constructor(initial: readonly MetricsRecord[] = []) {
    this.rows = [...initial];
  }

  get records(): readonly MetricsRecord[] {
    return this.rows;
  }

  append(...records: MetricsRecord[]): void {
    this.rows.push(...records);
    this.listeners.forEach((fn) => fn());
  }

  /** Task names in order of first appearance (the mean row included). */
  tasks(): string[] {
    return [...new Set(this.rows.map((r) => r.task))];
  }

  /** (iteration, value) points of one field for one task, skipping rows where it is absent or null. */
  points(task: string, field: MetricField): { iteration: number; value: number }[] {
    return this.rows.flatMap((r) => {
      const v = r[field];
      return r.task === task && typeof v === 'number' ? [{ iteration: r.iteration, value: v }] : [];
    });
  }

  /** Calls `fn` after every append; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  toJsonl(): string {
    return this.rows.map((r) => `${metricsLine(r)}\n`).join('');
  }
}
