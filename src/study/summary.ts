// A study's results and their summary: each run's held-out curve and final evaluation (shared adapter and
// after test-time adaptation), grouped by (examples per task, method, setting) with mean ± sd over seeds.

import type { TaskResult } from '../train/evaluateTasks';
import type { MetricsRecord } from '../train/metrics';
import { MEAN_TASK } from '../train/metrics';
import type { TrainSettings } from '../train/settings';
import type { StudyRun } from './grid';

/** One point of a run's held-out curve: each task's loss and their mean. */
export interface CurvePoint {
  iteration: number;
  mean: number;
  tasks: Record<string, number>;
}

export interface RunResult extends StudyRun {
  settings: TrainSettings;
  /** Training + evaluation wall time. */
  seconds: number;
  curve: CurvePoint[];
  tasks: TaskResult[];
}

/** The base model on one split (it depends on the seed and the pool size only). */
export interface BaseResult {
  seed: number;
  examplesPerTask: number;
  tasks: TaskResult[];
}

export const SCORED = ['loss', 'loss_no_eos', 'answer_accuracy', 'choice_accuracy'] as const;
export type Scored = (typeof SCORED)[number];
export type Side = 'shared' | 'adapted';

export interface Stat {
  mean: number;
  sd: number;
  n: number;
}

export interface GroupSummary {
  examplesPerTask: number;
  /** A method, or 'base'. */
  method: string;
  setting: string;
  seeds: number[];
  /** side → metric → task (and MEAN_TASK) → stat over seeds. */
  scores: Record<Side, Record<Scored, Record<string, Stat>>>;
  curve: { iteration: number; mean: Stat }[];
}

/** The held-out rows of a run's metrics as a curve. */
export function curveOf(rows: readonly MetricsRecord[]): CurvePoint[] {
  const points = new Map<number, CurvePoint>();
  for (const r of rows) {
    if (r.eval_loss === undefined || r.eval_loss === null) continue;
    const p = points.get(r.iteration) ?? { iteration: r.iteration, mean: NaN, tasks: {} };
    if (r.task === MEAN_TASK) p.mean = r.eval_loss;
    else p.tasks[r.task] = r.eval_loss;
    points.set(r.iteration, p);
  }
  return [...points.values()].sort((a, b) => a.iteration - b.iteration);
}

export function stat(values: readonly number[]): Stat {
  const n = values.length;
  const mean = values.reduce((a, v) => a + v, 0) / Math.max(1, n);
  const sd = n > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean: n > 0 ? mean : NaN, sd, n };
}

/** Per task and the mean over tasks (tasks without the metric left out of the mean). */
function perTask(results: readonly TaskResult[], side: Side, metric: Scored): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of results) {
    const v = t[side]?.[metric];
    if (typeof v === 'number' && Number.isFinite(v)) out[t.task] = v;
  }
  const vals = Object.values(out);
  if (vals.length > 0) out[MEAN_TASK] = vals.reduce((a, v) => a + v, 0) / vals.length;
  return out;
}

function scoresOver(runs: readonly { tasks: TaskResult[] }[]): GroupSummary['scores'] {
  const scores = {} as GroupSummary['scores'];
  for (const side of ['shared', 'adapted'] as const) {
    scores[side] = {} as Record<Scored, Record<string, Stat>>;
    for (const metric of SCORED) {
      const per = runs.map((r) => perTask(r.tasks, side, metric));
      const keys = [...new Set(per.flatMap((p) => Object.keys(p)))];
      scores[side][metric] = Object.fromEntries(keys.map((k) => [k, stat(per.flatMap((p) => (k in p ? [p[k]] : [])))]));
    }
  }
  return scores;
}

/** Groups runs (and base evaluations) by examples per task, method and setting, in the order first seen. */
export function summarize(runs: readonly RunResult[], bases: readonly BaseResult[]): GroupSummary[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of runs) {
    const key = `${r.examplesPerTask}|${r.method}|${r.setting}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: GroupSummary[] = [];
  for (const n of [...new Set([...bases.map((b) => b.examplesPerTask), ...runs.map((r) => r.examplesPerTask)])]) {
    const mine = bases.filter((b) => b.examplesPerTask === n);
    if (mine.length > 0) {
      out.push({
        examplesPerTask: n,
        method: 'base',
        setting: '',
        seeds: mine.map((b) => b.seed),
        scores: scoresOver(mine),
        curve: [],
      });
    }
    for (const list of groups.values()) {
      if (list[0].examplesPerTask !== n) continue;
      const iterations = [...new Set(list.flatMap((r) => r.curve.map((p) => p.iteration)))].sort((a, b) => a - b);
      out.push({
        examplesPerTask: n,
        method: list[0].method,
        setting: list[0].setting,
        seeds: list.map((r) => r.seed),
        scores: scoresOver(list),
        curve: iterations.map((iteration) => ({
          iteration,
          mean: stat(list.flatMap((r) => r.curve.filter((p) => p.iteration === iteration).map((p) => p.mean))),
        })),
      });
    }
  }
  return out;
}
