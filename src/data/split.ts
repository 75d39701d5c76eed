// Splits of whole datasets with the training's own rule: each task's training pool and held-out set come from
// splitTask (src/data/tasks.ts, shuffled by a stream derived from the seed and the task's name, so the same
// seed gives the same split and adding a task leaves the others' unchanged). What this adds is the summary the
// UI shows before training: how each task divides, and what will not work (a pool too small for |S| + |Q|).
// A run's plan comes from its settings through one function, src/train/settings.ts splitPlan.

import { type Example, type SplitOptions, type TaskSplit, splitTask } from './tasks';

export interface SplitPlan extends SplitOptions {
  /** MeTA-LoRA's support and query sizes, checked against each pool when given. */
  supportSize?: number;
  querySize?: number;
}

export interface SplitSummary {
  task: string;
  examples: number;
  train: number;
  eval: number;
  /** Examples beyond the pool and the held-out cap, in neither. */
  unused: number;
  /** What the user should know: no held-out set, a pool smaller than asked, one too small for an episode. */
  notes: string[];
}

export function splitTasks<E extends Example>(
  tasks: readonly { name: string; examples: readonly E[] }[],
  plan: SplitPlan,
): { splits: TaskSplit<E>[]; summary: SplitSummary[] } {
  const { poolSize, evalMax, seed } = plan;
  const splits = tasks.map((t) => splitTask(t, { poolSize, evalMax, seed }));
  const summary = splits.map((s, i): SplitSummary => {
    const examples = tasks[i].examples.length;
    const notes: string[] = [];
    if (examples < poolSize)
      notes.push(`only ${examples} examples for a pool of ${poolSize}: all train, none is held out`);
    else if (s.eval.length === 0) notes.push('no example is left for a held-out set');
    const episode = (plan.supportSize ?? 0) + (plan.querySize ?? 0);
    if (episode > s.train.length) {
      notes.push(
        `support + query (${episode}) exceed the pool of ${s.train.length}; MeTA-LoRA cannot draw them disjointly`,
      );
    }
    return {
      task: s.name,
      examples,
      train: s.train.length,
      eval: s.eval.length,
      unused: examples - s.train.length - s.eval.length,
      notes,
    };
  });
  return { splits, summary };
}
