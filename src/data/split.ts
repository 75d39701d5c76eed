// Splits of whole datasets, reusing the training code's own: each task's training pool and held-out set come
// from splitTask (src/data/tasks.ts, shuffled by a stream derived from the seed and the task's name, so the
// same seed gives the same split and adding a task leaves the others' unchanged), and MeTA-LoRA's disjoint
// support/query draws from MetaEpisodeSampler (src/train/episodes.ts). What this adds is the summary the UI
// shows before training: how each task divides, and what will not work (a pool too small for |S| + |Q|).

import { MetaEpisodeSampler } from '../train/episodes';
import { Rng } from '../util/rng';
import { DEFAULT_SETTINGS } from '../train/settings';
import { type Example, type TaskSplit, splitTask } from './tasks';

export interface SplitPlan {
  seed: number;
  /** Training pool per task (default 50, the paper's setting). */
  poolSize?: number;
  /** Largest held-out set per task (default 100). */
  evalMax?: number;
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

export function splitTasks<E extends Example>(tasks: readonly { name: string; examples: readonly E[] }[], plan: SplitPlan):
  { splits: TaskSplit<E>[]; summary: SplitSummary[] } {
  const poolSize = plan.poolSize ?? DEFAULT_SETTINGS.examplesPerTask;
  const evalMax = plan.evalMax ?? DEFAULT_SETTINGS.evalExamplesPerTask;
  const splits = tasks.map((t) => splitTask(t, { poolSize, evalMax, seed: plan.seed }));
  const summary = splits.map((s, i): SplitSummary => {
    const examples = tasks[i].examples.length;
    const notes: string[] = [];
    if (examples < poolSize) notes.push(`only ${examples} examples for a pool of ${poolSize}: all train, none is held out`);
    else if (s.eval.length === 0) notes.push('no example is left for a held-out set');
    const episode = (plan.supportSize ?? 0) + (plan.querySize ?? 0);
    if (episode > s.train.length) {
      notes.push(`support + query (${episode}) exceed the pool of ${s.train.length}; MeTA-LoRA cannot draw them disjointly`);
    }
    return { task: s.name, examples, train: s.train.length, eval: s.eval.length, unused: examples - s.train.length - s.eval.length, notes };
  });
  return { splits, summary };
}

export interface EpisodePlan {
  seed: number;
  tasksPerIteration?: number;
  supportSize?: number;
  querySize?: number;
}

export interface EpisodePreview<E> {
  task: string;
  support: E[];
  query: E[];
}

/**
 * The first `count` MeTA-LoRA episodes over these splits' pools: K distinct tasks, each with disjoint support
 * and query sets. Drawn by the trainer's sampler from the seed's "sampler" stream, as runTraining derives it.
 */
export function sampleEpisodes<E>(splits: readonly TaskSplit<E>[], plan: EpisodePlan, count = 1): EpisodePreview<E>[][] {
  const sampler = new MetaEpisodeSampler(splits.map((s) => s.train.length), {
    tasksPerIteration: plan.tasksPerIteration ?? DEFAULT_SETTINGS.tasksPerIteration,
    supportSize: plan.supportSize ?? DEFAULT_SETTINGS.supportSize,
    querySize: plan.querySize ?? DEFAULT_SETTINGS.querySize,
  }, Rng.fromSeed(plan.seed).derive('sampler'));
  return Array.from({ length: count }, () => sampler.next().map((e) => {
    const pool = splits[e.task].train;
    return { task: splits[e.task].name, support: e.support.map((i) => pool[i]), query: e.query.map((i) => pool[i]) };
  }));
}
