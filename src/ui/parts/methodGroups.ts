// Compare's "by method" view: runs grouped by method (e.g. several seeds of each), with mean ± sd over the
// group of the final held-out loss and of the mean answer accuracy (as trained and after test-time adaptation).

import { type Stat, stat } from '../../study/summary';
import type { Scores, TaskResult } from '../../train/evaluateTasks';
import { MEAN_TASK } from '../../train/metrics';
import type { TrainMethod } from '../../train/settings';
import type { RunRecord } from '../stores/runs';

export interface MethodGroup {
  method: TrainMethod;
  runs: number;
  seeds: number[];
  heldOut: Stat;
  answers: Stat;
  adaptedAnswers: Stat;
}

const meanOver = (
  tasks: readonly TaskResult[] | undefined,
  side: 'shared' | 'adapted',
  m: keyof Scores,
): number | null => {
  const v = (tasks ?? []).map((t) => t[side]?.[m]).filter((x): x is number => typeof x === 'number');
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

const finalHeldOut = (r: RunRecord) =>
  r.metrics.filter((m) => m.task === MEAN_TASK && typeof m.eval_loss === 'number').at(-1)?.eval_loss ?? null;

export function groupByMethod(runs: readonly RunRecord[]): MethodGroup[] {
  const methods = [...new Set(runs.map((r) => r.settings.method))];
  return methods.map((method) => {
    const mine = runs.filter((r) => r.settings.method === method);
    const over = (f: (r: RunRecord) => number | null) => stat(mine.map(f).filter((x): x is number => x !== null));
    return {
      method,
      runs: mine.length,
      seeds: [...new Set(mine.map((r) => r.settings.seed))],
      heldOut: over(finalHeldOut),
      answers: over((r) => meanOver(r.evals.trained, 'shared', 'answer_accuracy')),
      adaptedAnswers: over((r) => meanOver(r.evals.trained, 'adapted', 'answer_accuracy')),
    };
  });
}
