// Evaluation of an adapter per task on held-out examples: the mean completion loss (token-weighted, as in
// training), and accuracy for classification-style tasks.
//
// Task kinds (kept simple): a task file's lines may carry `"choices": [string, ...]` beside prompt and
// completion, the completion being one of them. A task whose every example has choices is 'multiple-choice':
// its accuracy is the share of examples whose highest-log-likelihood choice (summed over the choice's
// tokens, given the prompt; no EOS) is the completion. Every task also gets exact match: greedy decoding of
// the prompt, stopped at EOS or a few tokens past the reference's length, compared with the completion, both
// trimmed of surrounding whitespace. For free-text tasks exact match is strict but still a useful signal.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import { packBatch } from './batch';
import { greedyDecode } from './decode';
import { type TrainModel, evalLoss, evalLosses } from './step';
import { type Example, type Task, TaskFormatError, type TokenizedExample, parseTaskJsonl, tokenizeExample } from './tasks';
import { ScalarReadout } from './trainers/common';

export type TaskKind = 'multiple-choice' | 'generation';

export interface EvalExample extends Example {
  /** Candidate completions; the reference completion is one of them. */
  choices?: string[];
}

export interface EvalTask extends Task {
  examples: EvalExample[];
}

/** parseTaskJsonl plus the optional `choices` field, checked to be strings that include the completion. */
export function parseEvalTask(name: string, text: string): EvalTask {
  const task = parseTaskJsonl(name, text);
  const lines = text.split(/\r?\n/).map((line, i) => ({ line, at: i + 1 })).filter(({ line }) => line.trim() !== '');
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
  /** Mean loss over the completions' scored tokens; null without examples. */
  loss: number | null;
  /** Share of exact matches after greedy decoding (null when not computed). */
  exact_match: number | null;
  /** Multiple-choice accuracy by log-likelihood (null for generation tasks or when not computed). */
  choice_accuracy: number | null;
}

/** Examples per forward pass (held-out sets are small; larger batches only pad more). */
const EVAL_BATCH = 8;
/** Tokens decoded past the reference's length: a model that does not stop there has not matched anyway. */
const DECODE_SLACK = 2;

/** Mean loss over all scored tokens of `examples` (null when there are none); one readback. */
export async function evalLossOf(ctx: GpuContext, model: TrainModel, adapter: Adapter, run: AdapterRun,
  examples: readonly TokenizedExample[]): Promise<number | null> {
  if (examples.length === 0) return null;
  const readout = new ScalarReadout();
  const slots: number[] = [];
  for (let i = 0; i < examples.length; i += EVAL_BATCH) {
    slots.push(readout.add(evalLoss(ctx, model, adapter, packBatch(examples.slice(i, i + EVAL_BATCH)), run)));
  }
  const { f32 } = await readout.read(ctx);
  const sum = slots.reduce((a, at) => a + f32[at], 0);
  const count = slots.reduce((a, at) => a + f32[at + 1], 0);
  return count > 0 ? sum / count : null;
}

export interface EvaluateOptions {
  maxSeqLen: number;
  appendEos: boolean;
  /** Also compute exact match and (multiple-choice tasks) choice accuracy. */
  accuracy: boolean;
}

/** Loss and accuracies of one task's examples, run as task `run.task` (MTL-LoRA's id). */
export async function evaluateTask(ctx: GpuContext, model: TrainModel, adapter: Adapter, tok: Tokenizer, run: AdapterRun,
  name: string, examples: readonly EvalExample[], o: EvaluateOptions): Promise<TaskEvaluation> {
  const kind = taskKind(examples);
  const tokenized = examples.map((e) => tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: o.appendEos }));
  const loss = await evalLossOf(ctx, model, adapter, run, tokenized);
  const result: TaskEvaluation = { task: name, kind, examples: examples.length, loss, exact_match: null, choice_accuracy: null };
  if (!o.accuracy || examples.length === 0) return result;

  let matches = 0;
  for (let i = 0; i < examples.length; i += EVAL_BATCH) {
    const chunk = examples.slice(i, i + EVAL_BATCH);
    const refs = chunk.map((e) => tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: false }));
    const maxNewTokens = Math.max(...refs.map((r) => r.completion.length)) + DECODE_SLACK;
    const outs = await greedyDecode(ctx, model, adapter, run, refs.map((r) => r.prompt), { maxNewTokens, eosId: tok.eosId });
    outs.forEach((ids, k) => {
      if (tok.decode(ids).trim() === chunk[k].completion.trim()) matches++;
    });
  }
  result.exact_match = matches / examples.length;
  if (kind === 'multiple-choice') result.choice_accuracy = await choiceAccuracy(ctx, model, adapter, tok, run, examples, o);
  return result;
}

/** Share of examples whose most likely choice (summed token log-likelihood given the prompt) is the completion. */
async function choiceAccuracy(ctx: GpuContext, model: TrainModel, adapter: Adapter, tok: Tokenizer, run: AdapterRun,
  examples: readonly EvalExample[], o: EvaluateOptions): Promise<number> {
  let correct = 0;
  for (const ex of examples) {
    const choices = ex.choices!;
    const scored = (c: string) => tokenizeExample(tok, { prompt: ex.prompt, completion: c }, { maxLength: o.maxSeqLen, eos: false });
    const batch = packBatch(choices.map(scored));
    const { total, losses } = evalLosses(ctx, model, adapter, batch, run);
    const perToken = await ctx.read(losses);
    [total, losses].forEach((t) => t.release());
    const nll = choices.map((_, b) => perToken.subarray(b * batch.S, (b + 1) * batch.S).reduce((a, v) => a + v, 0));
    const best = nll.reduce((bi, v, i) => (v < nll[bi] ? i : bi), 0);
    if (choices[best].trim() === ex.completion.trim()) correct++;
  }
  return correct / examples.length;
}
