// Evaluation of an adapter per task on held-out examples: the mean completion loss (token-weighted, as in
// training), and accuracy for classification-style tasks.
//
// Task kinds (kept simple): a task file's lines may carry `"choices": [string, ...]` beside prompt and
// completion, the completion being one of them. A task whose every example has choices is 'multiple-choice':
// its accuracy is the share of examples whose highest-log-likelihood choice (summed over the choice's
// tokens, given the prompt; no EOS) is the completion. Every task also gets answer metrics from one greedy
// continuation of the prompt, stopped at EOS or a few tokens past the reference's length (src/train/answers.ts):
// strict exact match, "starts with the answer", and answer accuracy (the continuation cut where the answer
// ends, optionally normalised) — the one to read for free-text tasks.
//
// The held-out loss scores exactly the tokens the training loss scores: the same tokenization (BOS, prompt,
// completion, EOS when the run appends it, the same truncation) and the same mask (completion tokens only).
// loss_no_eos leaves the EOS target out, for models that cannot learn to stop (stories260K never saw EOS: its
// EOS target stays at ≈ ln 225 nats whatever the adapter does).

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import { type AnswerOptions, type AnswerScore, DEFAULT_ANSWER, scoreAnswer } from './answers';
import { packBatch } from './batch';
import { greedyDecode } from './decode';
import { type TrainModel, evalLoss, evalLosses } from './step';
import {
  type EvalExample,
  type Task,
  TaskFormatError,
  type TokenizedExample,
  parseTaskJsonl,
  tokenizeExample,
} from '../data/tasks';
import { ScalarReadout } from './trainers/common';

export type TaskKind = 'multiple-choice' | 'generation';

export type { EvalExample };

export interface EvalTask extends Task {
  examples: EvalExample[];
}

/** parseTaskJsonl plus the optional `choices` field, checked to be strings that include the completion. */
export function parseEvalTask(name: string, text: string): EvalTask {
  const task = parseTaskJsonl(name, text);
  const lines = text
    .split(/\r?\n/)
    .map((line, i) => ({ line, at: i + 1 }))
    .filter(({ line }) => line.trim() !== '');
  const examples = task.examples.map((ex, k): EvalExample => {
    const { choices } = JSON.parse(lines[k].line) as { choices?: unknown };
    if (choices === undefined) return ex;
    const where = `task ${name}, line ${lines[k].at}`;
    if (!Array.isArray(choices) || choices.length < 2 || !choices.every((c) => typeof c === 'string' && c !== '')) {
      throw new TaskFormatError(`${where}: "choices" must be a list of at least two non-empty strings.`);
    }
    if (!choices.some((c: string) => c.trim() === ex.completion.trim())) {
      throw new TaskFormatError(`${where}: the completion ${JSON.stringify(ex.completion)} is not one of the choices.`);
    }
    return { ...ex, choices };
  });
  return { name, examples };
}

export function taskKind(examples: readonly EvalExample[]): TaskKind {
  return examples.length > 0 && examples.every((e) => e.choices) ? 'multiple-choice' : 'generation';
}

export interface TaskEvaluation {
  task: string;
  kind: TaskKind;
  examples: number;
  /** Mean loss over the completions' scored tokens, as training scores them; null without examples. */
  loss: number | null;
  /** The same without the EOS target (equal to loss when the run appends no EOS). */
  loss_no_eos: number | null;
  /** Share of continuations whose whole text equals the reference (null when not computed). */
  exact_match: number | null;
  /** Share of continuations that start with the reference, unnormalised. */
  starts_with: number | null;
  /** Share of answers right: the continuation cut where the answer ends, compared per AnswerOptions. */
  answer_accuracy: number | null;
  /** Multiple-choice accuracy by log-likelihood (null for generation tasks or when not computed). */
  choice_accuracy: number | null;
}

/** The metrics a user compares, in display order, with their labels. */
export const EVAL_METRICS = [
  ['loss', 'Held-out loss'],
  ['loss_no_eos', 'Loss without EOS'],
  ['answer_accuracy', 'Answer accuracy'],
  ['starts_with', 'Starts with answer'],
  ['exact_match', 'Exact match'],
  ['choice_accuracy', 'Choice accuracy'],
] as const satisfies readonly (readonly [keyof TaskEvaluation, string])[];

/**
 * Padded tokens one evaluation pass may hold: as many as a pass of 16 sequences of 96 at least, more when the
 * vocabulary is small, keeping a pass's [tokens, vocab] logits within 64 MiB. Fewer, fuller passes are what
 * makes evaluation fast: a pass costs about the same on a small model whatever its batch.
 */
export function tokensPerPass(vocabSize: number): number {
  return Math.max(16 * 96, Math.floor((64 << 20) / (4 * vocabSize)));
}

/** Consecutive groups of `items` whose padded size (count × longest) fits `budget` tokens; a longer item goes alone. */
export function groupsByTokens<T>(items: readonly T[], length: (item: T) => number, budget: number): T[][] {
  const groups: T[][] = [];
  let group: T[] = [];
  let longest = 0;
  for (const item of items) {
    const n = length(item);
    if (group.length > 0 && (group.length + 1) * Math.max(longest, n) > budget) {
      groups.push(group);
      group = [];
      longest = 0;
    }
    group.push(item);
    longest = Math.max(longest, n);
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

const exampleLength = (ex: TokenizedExample) => ex.prompt.length + ex.completion.length;

/** Tokens decoded past the reference's length: a model that does not stop there has not matched anyway. */
const DECODE_SLACK = 2;

/** Mean loss over all scored tokens of `examples` (null when there are none); one readback. */
export async function evalLossOf(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  run: AdapterRun,
  examples: readonly TokenizedExample[],
): Promise<number | null> {
  if (examples.length === 0) return null;
  const readout = new ScalarReadout();
  const slots = groupsByTokens(examples, exampleLength, tokensPerPass(model.config.vocabSize)).map((group) =>
    readout.add(evalLoss(ctx, model, adapter, packBatch(group), run)),
  );
  const { f32 } = await readout.read(ctx);
  const sum = slots.reduce((a, at) => a + f32[at], 0);
  const count = slots.reduce((a, at) => a + f32[at + 1], 0);
  return count > 0 ? sum / count : null;
}

/** Each example's per-token losses at its scored positions (completion targets, in order), in few passes. */
export async function tokenLosses(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  run: AdapterRun,
  examples: readonly TokenizedExample[],
): Promise<number[][]> {
  const out: number[][] = [];
  for (const group of groupsByTokens(examples, exampleLength, tokensPerPass(model.config.vocabSize))) {
    const batch = packBatch(group);
    const { total, losses } = evalLosses(ctx, model, adapter, batch, run);
    const values = await ctx.read(losses);
    [total, losses].forEach((t) => t.release());
    for (let b = 0; b < batch.B; b++) {
      const row: number[] = [];
      for (let p = b * batch.S; p < (b + 1) * batch.S; p++) if (batch.targets[p] >= 0) row.push(values[p]);
      out.push(row);
    }
  }
  return out;
}

export interface EvaluateOptions {
  maxSeqLen: number;
  appendEos: boolean;
  /** Also compute the answer metrics and (multiple-choice tasks) choice accuracy. */
  accuracy: boolean;
  /** Where an answer ends and how it is compared (default DEFAULT_ANSWER). */
  answer?: AnswerOptions;
}

const meanOf = (rows: readonly (readonly number[])[]) => {
  const n = rows.reduce((a, r) => a + r.length, 0);
  return n > 0 ? rows.reduce((a, r) => a + r.reduce((x, v) => x + v, 0), 0) / n : null;
};

/** One task's examples to evaluate. */
export interface TaskExamples {
  name: string;
  examples: readonly EvalExample[];
}

/** Loss and accuracies of one task's examples, run as task `run.task` (MTL-LoRA's id). */
export async function evaluateTask(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  run: AdapterRun,
  name: string,
  examples: readonly EvalExample[],
  o: EvaluateOptions,
): Promise<TaskEvaluation> {
  return (await evaluateTaskSet(ctx, model, adapter, tok, run, [{ name, examples }], o))[0];
}

/**
 * Loss and accuracies of several tasks, all run as `run` (an adapter that computes the same for every task:
 * LoRA, or MTL-LoRA for one task). Every pass mixes the tasks' examples — one loss pass, one decoding, one
 * choice pass for all of them when they fit — and the results are split per task: the same numbers as
 * evaluating each task alone, in a quarter of the passes for four tasks.
 */
export async function evaluateTaskSet(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  run: AdapterRun,
  sets: readonly TaskExamples[],
  o: EvaluateOptions,
): Promise<TaskEvaluation[]> {
  const examples = sets.flatMap((set) => set.examples);
  const tokenized = examples.map((e) => tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: o.appendEos }));
  const perToken = await tokenLosses(ctx, model, adapter, run, tokenized);
  // The EOS target is the last scored position of an example whose completion still ends with it.
  const endsWithEos = (ex: TokenizedExample) => o.appendEos && tok.eosId !== null && ex.completion.at(-1) === tok.eosId;
  const noEos = perToken.map((row, i) => (endsWithEos(tokenized[i]) ? row.slice(0, -1) : row));
  const multipleChoice = sets.map((set) => taskKind(set.examples) === 'multiple-choice');
  const scores = o.accuracy ? await answerScores(ctx, model, adapter, tok, run, examples, o) : null;
  const chosen = o.accuracy
    ? await choicesRight(
        ctx,
        model,
        adapter,
        tok,
        run,
        sets.flatMap((set, t) => (multipleChoice[t] ? set.examples : [])),
        o,
      )
    : [];
  let at = 0;
  let choiceAt = 0;
  return sets.map((set, t): TaskEvaluation => {
    const mine = <T>(values: readonly T[]) => values.slice(at, at + set.examples.length);
    const share = (flags: readonly boolean[]) =>
      flags.length > 0 ? flags.filter(Boolean).length / flags.length : null;
    const result: TaskEvaluation = {
      task: set.name,
      kind: multipleChoice[t] ? 'multiple-choice' : 'generation',
      examples: set.examples.length,
      loss: meanOf(mine(perToken)),
      loss_no_eos: meanOf(mine(noEos)),
      exact_match: null,
      starts_with: null,
      answer_accuracy: null,
      choice_accuracy: null,
    };
    if (scores && set.examples.length > 0) {
      const own = mine(scores);
      result.exact_match = share(own.map((sc) => sc.exactMatch));
      result.starts_with = share(own.map((sc) => sc.startsWith));
      result.answer_accuracy = share(own.map((sc) => sc.answer));
      if (multipleChoice[t]) result.choice_accuracy = share(chosen.slice(choiceAt, (choiceAt += set.examples.length)));
    }
    at += set.examples.length;
    return result;
  });
}

/** Each example's answer scores from its greedy continuation, decoded in as few batches as fit. */
async function answerScores(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  run: AdapterRun,
  examples: readonly EvalExample[],
  o: EvaluateOptions,
): Promise<AnswerScore[]> {
  const scores: AnswerScore[] = new Array(examples.length);
  const refs = examples.map((e, i) => ({ ...tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: false }), i }));
  // Each example decodes up to its own reference's length + slack, so its result does not depend on its batch.
  for (const group of groupsByTokens(
    refs,
    (r) => exampleLength(r) + DECODE_SLACK,
    tokensPerPass(model.config.vocabSize),
  )) {
    const outs = await greedyDecode(
      ctx,
      model,
      adapter,
      run,
      group.map((r) => r.prompt),
      { maxNewTokens: group.map((r) => r.completion.length + DECODE_SLACK), eosId: tok.eosId },
      group.map((r) => r.completion),
    );
    outs.forEach((ids, k) => {
      scores[group[k].i] = scoreAnswer(tok.decode(ids), examples[group[k].i].completion, o.answer ?? DEFAULT_ANSWER);
    });
  }
  return scores;
}

/** Per example: is its most likely choice (summed token log-likelihood given the prompt) the completion? */
async function choicesRight(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  run: AdapterRun,
  examples: readonly EvalExample[],
  o: EvaluateOptions,
): Promise<boolean[]> {
  const scored = examples.flatMap((ex) =>
    ex.choices!.map((c) =>
      tokenizeExample(tok, { prompt: ex.prompt, completion: c }, { maxLength: o.maxSeqLen, eos: false }),
    ),
  );
  const nll = (await tokenLosses(ctx, model, adapter, run, scored)).map((row) => row.reduce((a, v) => a + v, 0));
  let at = 0;
  return examples.map((ex) => {
    const mine = nll.slice(at, (at += ex.choices!.length));
    const best = mine.reduce((bi, v, i) => (v < mine[bi] ? i : bi), 0);
    return ex.choices![best].trim() === ex.completion.trim();
  });
}
