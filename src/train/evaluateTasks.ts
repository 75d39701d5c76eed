// Evaluation of a run's adapter on its tasks, the one routine the CLI, the study and the app share. Per task:
// the held-out set (re-derived with the run's seed and pool size, so no training example is scored) scored
// with the shared adapter as it is (what the paper evaluates) and, optionally, after test-time adaptation
// (the method's inner steps on k examples of the task's training pool; src/train/adapt.ts). A task without
// held-out examples is reported as such and the others are still evaluated.

import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import { type TestTimeAdaptation, adaptToTask } from './adapt';
import { type EvalExample, type EvaluateOptions, type TaskEvaluation, evaluateTask, evaluateTaskSet } from './evaluate';
import { type TrainSettings, splitPlan } from './settings';
import type { TrainModel } from './step';
import { splitTask, tokenizeExample } from '../data/tasks';

/** The scores of one way of running the adapter. */
export type Scores = Omit<TaskEvaluation, 'task' | 'kind' | 'examples'>;

export const scoresOf = ({ task: _t, kind: _k, examples: _e, ...scores }: TaskEvaluation): Scores => scores;

export interface TaskResult {
  task: string;
  kind: TaskEvaluation['kind'];
  /** Examples scored. */
  examples: number;
  /** held-out: the run's held-out split; all: every example (a task the run did not train on); none: nothing to score. */
  split: 'held-out' | 'all' | 'none';
  /** Why a task was not scored. */
  note?: string;
  /** The adapter as it is (null when not scored). */
  shared: Scores | null;
  /** After test-time adaptation (null when not asked for or not possible). */
  adapted: Scores | null;
}

export interface EvalTaskInput {
  name: string;
  examples: EvalExample[];
  /** The adapter's task id (MTL-LoRA picks Λ_t and w_t by it), or −1 for a task it was not trained on. */
  id: number;
}

export interface EvaluateTasksOptions {
  accuracy: boolean;
  /** Also score after test-time adaptation (from the settings' inner steps and rate). */
  adapt: boolean;
  /** Split as `adapt` says but score the shared adapter only (the base model beside an adapted run). */
  sharedOnly?: boolean;
  /** Score every example, even of trained tasks (no test-time adaptation then: there is no separate pool). */
  all?: boolean;
  onProgress?: (done: number, total: number, task: string) => void;
}

/** Evaluation options of a run's settings. */
export function evaluateOptionsOf(s: TrainSettings, accuracy: boolean): EvaluateOptions {
  return {
    maxSeqLen: s.maxSeqLen,
    appendEos: s.appendEos,
    accuracy,
    answer: { stop: s.answerStop, stopStrings: s.stopStrings, normalize: s.normalizeAnswers },
  };
}

/** Test-time adaptation of a run's settings: its inner steps and rate on k (default |S|) examples. */
export function adaptationOf(s: TrainSettings): TestTimeAdaptation {
  return {
    examples: s.adaptExamples > 0 ? s.adaptExamples : s.supportSize,
    steps: s.innerSteps,
    lr: s.innerLr,
    seed: s.seed,
  };
}

/**
 * What is scored and what test-time adaptation may use: a trained task's held-out split and training pool; for
 * a task the run never saw, every example — or, with adaptation, all but k seeded ones that it adapts on.
 */
function splitFor(task: EvalTaskInput, s: TrainSettings, o: EvaluateTasksOptions) {
  if (o.all) return { kind: 'all' as const, train: [], eval: task.examples };
  if (task.id >= 0) {
    return { kind: 'held-out' as const, ...splitTask(task, splitPlan(s)) };
  }
  if (!o.adapt) return { kind: 'all' as const, train: [], eval: task.examples };
  const k = Math.min(adaptationOf(s).examples, task.examples.length);
  return {
    kind: 'held-out' as const,
    ...splitTask(task, { poolSize: k, evalMax: task.examples.length, seed: s.seed }),
  };
}

/** Evaluates each task (see the file comment). The base model is an adapter with B = 0 (`adapt` false for it). */
export async function evaluateTasks(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  s: TrainSettings,
  tasks: readonly EvalTaskInput[],
  o: EvaluateTasksOptions,
): Promise<TaskResult[]> {
  const opts = evaluateOptionsOf(s, o.accuracy);
  const splits = tasks.map((task) => splitFor(task, s, o));
  const scored = tasks
    .map((task, i) => ({ i, task, split: splits[i], id: Math.max(0, task.id) }))
    .filter((t) => t.split.eval.length > 0);
  const runOf = (id: number) => ({ task: id, dropoutSeed: 0, params: adapter.params });
  o.onProgress?.(0, tasks.length, scored[0]?.task.name ?? 'done');
  const shared = new Map<number, TaskEvaluation>();
  // A plain LoRA adapter computes the same for every task: all held-out sets share every pass. MTL-LoRA's
  // Λ_t and w_t differ per task, so each task runs alone.
  const together = adapter.kind === 'lora' ? [scored] : scored.map((t) => [t]);
  for (const group of together) {
    const sets = group.map((t) => ({ name: t.task.name, examples: t.split.eval }));
    const evaluations = await evaluateTaskSet(ctx, model, adapter, tok, runOf(group[0].id), sets, opts);
    evaluations.forEach((e, k) => shared.set(group[k].i, e));
  }
  const results: TaskResult[] = [];
  for (const [i, task] of tasks.entries()) {
    o.onProgress?.(i, tasks.length, task.name);
    const split = splits[i];
    const base: Omit<TaskResult, 'shared' | 'adapted' | 'kind'> = {
      task: task.name,
      examples: split.eval.length,
      split: split.kind,
    };
    const mine = shared.get(i);
    if (!mine) {
      results.push({
        ...base,
        kind: 'generation',
        split: 'none',
        shared: null,
        adapted: null,
        note: `all ${task.examples.length} examples are in the training pool (examples per task ${s.examplesPerTask}); none is held out`,
      });
      continue;
    }
    const adapted =
      o.adapt && !o.sharedOnly && split.train.length > 0
        ? await adaptedScores(ctx, model, adapter, tok, s, task, split, opts)
        : null;
    results.push({ ...base, kind: mine.kind, shared: scoresOf(mine), adapted });
  }
  o.onProgress?.(tasks.length, tasks.length, 'done');
  return results;
}

/** The task's held-out scores after test-time adaptation on its training pool (the copy released after). */
async function adaptedScores(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  s: TrainSettings,
  task: EvalTaskInput,
  split: { train: readonly EvalExample[]; eval: readonly EvalExample[] },
  opts: EvaluateOptions,
): Promise<Scores> {
  const id = Math.max(0, task.id);
  const pool = split.train.map((e) => tokenizeExample(tok, e, { maxLength: s.maxSeqLen, eos: s.appendEos }));
  const local = adaptToTask(ctx, model, adapter, id, task.name, pool, adaptationOf(s));
  try {
    return scoresOf(
      await evaluateTask(
        ctx,
        model,
        adapter,
        tok,
        { task: id, dropoutSeed: 0, params: local },
        task.name,
        split.eval,
        opts,
      ),
    );
  } finally {
    local.forEach((t) => t.release());
  }
}
