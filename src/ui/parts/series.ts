// Chart data from metrics rows: one row per iteration with a column per line (a task's support or query
// loss, the mean, a run in the comparison), thinned to a fixed number of points by averaging buckets, so a
// 1000-iteration run draws as fast as a 10-iteration one and a chart update never blocks the page.

import { MEAN_TASK, type MetricField, type MetricsRecord } from '../../train/metrics';

export type ChartRow = { iteration: number } & Record<string, number | null>;

export interface Line {
  /** Column name in the chart rows. */
  key: string;
  label: string;
  rows: readonly MetricsRecord[];
  task: string;
  field: MetricField;
}

/** Most points drawn per line. */
export const MAX_POINTS = 300;

/** Training rows (not evaluation rows) of `task`, or evaluation rows when field is eval_loss. */
function points(line: Line): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  for (const r of line.rows) {
    if (r.task !== line.task) continue;
    const isEval = r.eval_loss !== undefined;
    if (isEval !== (line.field === 'eval_loss')) continue;
    const y = r[line.field];
    if (typeof y === 'number' && Number.isFinite(y)) out.push({ x: r.iteration, y });
  }
  return out;
}

/** Averages consecutive points into at most `max` buckets (x of a bucket: its last iteration). */
export function thin(pts: { x: number; y: number }[], max = MAX_POINTS): { x: number; y: number }[] {
  if (pts.length <= max) return pts;
  const size = Math.ceil(pts.length / max);
  const out: { x: number; y: number }[] = [];
  for (let i = 0; i < pts.length; i += size) {
    const bucket = pts.slice(i, i + size);
    out.push({ x: bucket[bucket.length - 1].x, y: bucket.reduce((a, p) => a + p.y, 0) / bucket.length });
  }
  return out;
}

/** Rows for a chart of `lines`, sorted by iteration; a line without a point at an iteration has null there. */
export function chartRows(lines: readonly Line[], max = MAX_POINTS): ChartRow[] {
  const byX = new Map<number, ChartRow>();
  for (const line of lines) {
    for (const p of thin(points(line), max)) {
      let row = byX.get(p.x);
      if (!row) byX.set(p.x, (row = { iteration: p.x } as ChartRow));
      row[line.key] = p.y;
    }
  }
  return [...byX.values()].sort((a, b) => a.iteration - b.iteration);
}

/** The lines of one run's loss chart: each task's `field` and the mean. */
export function taskLines(rows: readonly MetricsRecord[], tasks: readonly string[], field: MetricField): Line[] {
  return [...tasks, MEAN_TASK].map((task) => ({ key: `${task}`, label: task, rows, task, field }));
}

/** Eight colours distinguishable in light and dark themes; the mean is drawn in the text colour. */
export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d'];
