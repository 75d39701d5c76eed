// Tasks for training: named lists of {prompt, completion} examples, a minimal strict JSONL reader (for tests
// and benchmarks; user files in any format go through readTable + applyMapping, which produce these same shapes),
// tokenization with the model's tokenizer, truncation to the training length, and the per-task split into a
// training pool and a held-out set (src/data/split.ts applies it to whole datasets).

import type { Tokenizer } from '../io/tokenizer';
import { Rng } from '../util/rng';

/** The `task` of the training metrics' mean row over all tasks; no task may be named this. */
export const MEAN_TASK = 'mean';

export interface Example {
  prompt: string;
  completion: string;
}

/** An example for evaluation: `choices`, when given, are candidate completions including the reference. */
export interface EvalExample extends Example {
  choices?: string[];
}

export interface Task {
  name: string;
  examples: Example[];
}

/** Token ids of one example; the loss is taken on `completion` only. */
export interface TokenizedExample {
  prompt: number[];
  completion: number[];
}

export class TaskFormatError extends Error {
  override name = 'TaskFormatError';
}

/**
 * One JSON object per non-blank line with string fields `prompt` (may be empty) and `completion` (non-empty);
 * other fields are ignored. Errors name the task and the 1-based line.
 */
export function parseTaskJsonl(name: string, text: string): Task {
  const examples: Example[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `task ${name}, line ${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch (e) {
      throw new TaskFormatError(`${where}: not valid JSON (${(e as Error).message}).`);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      throw new TaskFormatError(`${where}: expected an object {"prompt": ..., "completion": ...}.`);
    }
    const { prompt, completion } = row as Record<string, unknown>;
    if (typeof prompt !== 'string') throw new TaskFormatError(`${where}: "prompt" must be a string.`);
    if (typeof completion !== 'string' || completion === '') {
      throw new TaskFormatError(`${where}: "completion" must be a non-empty string (it is what the loss is taken on).`);
    }
    examples.push({ prompt, completion });
  });
  if (examples.length === 0) throw new TaskFormatError(`task ${name}: no examples.`);
  return { name, examples };
}

/** At least one task; names non-empty, distinct, and not the metrics' mean-row name. */
export function checkTaskNames(tasks: readonly Task[]): void {
  if (tasks.length === 0) throw new TaskFormatError('no tasks given.');
  const seen = new Set<string>();
  for (const { name } of tasks) {
    if (name.trim() === '') throw new TaskFormatError('a task has an empty name.');
    if (name === MEAN_TASK)
      throw new TaskFormatError(`"${MEAN_TASK}" is reserved for the metrics' mean rows; rename the task.`);
    if (seen.has(name)) throw new TaskFormatError(`two tasks are named "${name}".`);
    seen.add(name);
  }
}

export interface TokenizeOptions {
  /** Longest sequence (prompt + completion tokens) kept; see `truncateExample`. */
  maxLength: number;
  /** Start the prompt with the tokenizer's BOS when it has one (default true). */
  bos?: boolean;
  /** End the completion with the tokenizer's EOS when it has one, so the model learns to stop (default true). */
  eos?: boolean;
}

/**
 * Tokenizes prompt and completion. The completion's ids are taken from the encoding of prompt + completion
 * when that starts with the prompt's ids, because SentencePiece and BPE merge differently at a boundary
 * than inside one string (a separately encoded completion gets a spurious leading-space token); when the
 * prefix does not match, the completion is encoded on its own.
 */
export function tokenizeExample(tok: Tokenizer, ex: Example, opts: TokenizeOptions): TokenizedExample {
  const bos = (opts.bos ?? true) && tok.bosId !== null;
  const prompt = tok.encode(ex.prompt, { bos });
  const full = tok.encode(ex.prompt + ex.completion, { bos });
  const joined = full.length > prompt.length && prompt.every((id, i) => full[i] === id);
  const completion = joined ? full.slice(prompt.length) : tok.encode(ex.completion, { bos: false });
  if ((opts.eos ?? true) && tok.eosId !== null) completion.push(tok.eosId);
  return truncateExample({ prompt, completion }, opts.maxLength, bos ? tok.bosId : null);
}

/**
 * Fits an example into `maxLength` tokens: prompt tokens are dropped from the left first (after a leading
 * BOS, which stays), since the end of the prompt is what conditions the completion; only when the prompt is
 * down to its BOS (or empty) is the completion cut from the right.
 */
export function truncateExample(ex: TokenizedExample, maxLength: number, bosId: number | null): TokenizedExample {
  if (!Number.isInteger(maxLength) || maxLength < 2)
    throw new RangeError(`maxLength must be an integer ≥ 2, got ${maxLength}`);
  const excess = ex.prompt.length + ex.completion.length - maxLength;
  if (excess <= 0) return ex;
  const head = bosId !== null && ex.prompt[0] === bosId ? 1 : 0;
  const droppable = ex.prompt.length - head;
  const drop = Math.min(excess, droppable);
  const prompt = [...ex.prompt.slice(0, head), ...ex.prompt.slice(head + drop)];
  const completion = ex.completion.slice(0, ex.completion.length - (excess - drop));
  return { prompt, completion };
}

export interface SplitOptions {
  /** Examples in the training pool (episodes draw from it); the paper uses 50 or 100. */
  poolSize: number;
  /** Largest held-out set kept for evaluation. */
  evalMax: number;
  /** The split seed; each task's split also depends on its name, so adding a task leaves others unchanged. */
  seed: number;
}

export interface TaskSplit<T = Example> {
  name: string;
  train: T[];
  eval: T[];
}

/**
 * Shuffles a task's examples with a stream derived from (seed, task name), puts the first `poolSize` in the
 * training pool and up to `evalMax` of the rest in the held-out set. A task with no more than `poolSize`
 * examples gives all of them to training and has no held-out set.
 */
export function splitTask<E extends Example>(
  task: { name: string; examples: readonly E[] },
  opts: SplitOptions,
): TaskSplit<E> {
  if (!Number.isInteger(opts.poolSize) || opts.poolSize < 1)
    throw new RangeError(`poolSize must be a positive integer, got ${opts.poolSize}`);
  if (!Number.isInteger(opts.evalMax) || opts.evalMax < 0)
    throw new RangeError(`evalMax must be a non-negative integer, got ${opts.evalMax}`);
  const order = Rng.fromSeed(opts.seed)
    .derive(`split:${task.name}`)
    .shuffle(task.examples.map((_, i) => i));
  const train = order.slice(0, opts.poolSize).map((i) => task.examples[i]);
  const held = order.slice(opts.poolSize, opts.poolSize + opts.evalMax).map((i) => task.examples[i]);
  return { name: task.name, train, eval: held };
}

/** Tokenizes both halves of a split. */
export function tokenizeSplit(tok: Tokenizer, split: TaskSplit, opts: TokenizeOptions): TaskSplit<TokenizedExample> {
  const t = (ex: Example) => tokenizeExample(tok, ex, opts);
  return { name: split.name, train: split.train.map(t), eval: split.eval.map(t) };
}
