// Evaluation with answers known in advance, on the real stories260K:
// - references that are the model's own greedy continuation (plain greedy decoding, one pass per token; the
//   evaluation verifies references as drafts instead) are answered right: answer accuracy and starts-with 1; references it does not produce score 0;
//   strict exact match stays 0 because the model goes on writing past the answer (it never learned EOS);
// - single-token choices: the argmax token is the most likely choice, so choice accuracy is 1 when it is the
//   completion and 0 when another choice is;
// - an adapter with B = 0 (it ignores nothing but adds nothing) scores exactly the base model's numbers, and a
//   random non-zero adapter changes them;
// - draft (speculative) greedy decoding returns exactly plain greedy decoding's tokens, right or wrong drafts;
// - the held-out loss is the training loss of the same examples (same tokens scored), and without EOS it is
//   the loss of the same examples tokenized without EOS.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Adapter } from '../../src/adapters/types';
import { adapterFromData } from '../../src/cli/adapterDir';
import { createLora } from '../../src/adapters/lora';
import type { Tokenizer } from '../../src/io/tokenizer';
import { type LoadedModel, loadModel } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import { releaseWeights } from '../../src/model/weights';
import { packBatch } from '../../src/train/batch';
import { greedyDecode } from '../../src/train/decode';
import { type EvalExample, evaluateTask } from '../../src/train/evaluate';
import { createGrads, trainStep } from '../../src/train/step';
import { tokenizeExample } from '../../src/data/tasks';
import { randomAdapterData } from '../helpers/exportFixtures';
import { gpu } from '../helpers/gpu';
import { freshSeed } from '../helpers/random';
import { sharedPath } from '../helpers/shared';

const seed = freshSeed();
const PROMPTS = [
  'Lily had a blue box. Lily loved the box. The box was',
  'Ben saw a dog at the zoo. The dog said',
  'Once upon a time, there was a boy named Sam. Every day,',
  'Sue saw a big spider. Sue felt very',
  'Tom went to the park. He saw a',
];
const OPTS = { maxSeqLen: 96, appendEos: true, accuracy: true };

let model: LoadedModel;
let tok: Tokenizer;
let zero: Adapter;
let noisy: Adapter;
let close: () => Promise<void>;

beforeAll(async () => {
  const ctx = await gpu();
  const files = await openModelPath(sharedPath('models/stories260K/stories260K.bin'), {
    tokenizer: sharedPath('models/stories260K/tok512.bin'),
  });
  model = await loadModel(ctx, files);
  tok = model.tokenizer!;
  zero = createLora(ctx, model.config, { rank: 4, alpha: 8, dropout: 0, targets: ['q', 'k', 'v', 'o'] }, seed);
  noisy = adapterFromData(
    ctx,
    model.config,
    randomAdapterData(model.config, { method: 'lora', rank: 4, alpha: 8, targets: ['q', 'v'], seed }),
  );
  close = async () => {
    if (files.kind === 'llama2c') await Promise.all([files.file, files.tokenizer].map((s) => s?.close?.()));
  };
});

afterAll(async () => {
  [zero, noisy].forEach((a) => a.release());
  releaseWeights(model.weights);
  await close();
});

const run = (a: Adapter) => ({ task: 0, dropoutSeed: 0, params: a.params });

/**
 * The base model's own greedy continuation of each prompt, n tokens, as text cut to whole words: plain greedy
 * decoding one token per pass (evaluation verifies the reference as a draft instead, another code path). Not
 * generate()'s KV-cache path: its attention sums in another order, so near-tied logits may pick other tokens.
 */
async function ownContinuations(n: number): Promise<string[]> {
  const ctx = await gpu();
  const out: string[] = [];
  for (const p of PROMPTS) {
    const prompt = tok.encode(p, { bos: true });
    const [tokens] = await greedyDecode(ctx, model, zero, run(zero), [prompt], { maxNewTokens: n, eosId: tok.eosId });
    const g = { tokens };
    const text = tok.decode([...prompt, ...g.tokens]).slice(tok.decode(prompt).length);
    out.push(text.slice(0, text.search(/\s\S*$/)));
  }
  return out;
}

describe(`evaluation with known answers (seed ${seed})`, () => {
  it("the model's own greedy continuations are right answers; other references are wrong", async () => {
    const ctx = await gpu();
    const own = await ownContinuations(8);
    expect(own.every((t) => t.trim() !== '')).toBe(true);
    const right: EvalExample[] = PROMPTS.map((prompt, i) => ({ prompt, completion: own[i] }));
    const wrong: EvalExample[] = PROMPTS.map((prompt) => ({ prompt, completion: ' zebra xylophone.' }));
    const r = await evaluateTask(ctx, model, zero, tok, run(zero), 'right', right, OPTS);
    const w = await evaluateTask(ctx, model, zero, tok, run(zero), 'wrong', wrong, OPTS);
    expect(r.answer_accuracy).toBe(1);
    expect(r.starts_with).toBe(1);
    expect(r.exact_match).toBe(0); // it writes on past the answer: stories260K never learned to stop
    expect(w.answer_accuracy).toBe(0);
    expect(w.starts_with).toBe(0);
    expect(w.exact_match).toBe(0);
    expect(r.loss_no_eos!).toBeLessThan(w.loss_no_eos!);
  });

  it('choice accuracy is 1 when the completion is the most likely single-token choice and 0 when it is not', async () => {
    const ctx = await gpu();
    const cases = PROMPTS.map((prompt) => {
      const ids = tok.encode(prompt, { bos: true });
      const text = (id: number) => tok.decode([...ids, id]).slice(tok.decode(ids).length);
      // Only ids that come back as exactly one completion token after this prompt can be single-token choices.
      const single = (id: number) => {
        const t = tokenizeExample(tok, { prompt, completion: text(id) }, { maxLength: 96, eos: false }).completion;
        return t.length === 1 && t[0] === id;
      };
      return { prompt, ids, text, single };
    });
    const firsts = (
      await greedyDecode(
        ctx,
        model,
        zero,
        run(zero),
        cases.map((c) => c.ids),
        { maxNewTokens: 1, eosId: null },
      )
    ).map((t) => t[0]);
    const pool = [' dog', ' red', ' sad', ' ball', ' cat', ' big'].map((w) => tok.encode(w, { bos: false })[0]);
    const usable = cases.map((c, i) => ({ ...c, first: firsts[i] })).filter((c) => c.single(c.first));
    expect(usable.length).toBeGreaterThanOrEqual(3);
    const examples = (pickBest: boolean): EvalExample[] =>
      usable.map((c) => {
        const ids = [c.first, ...pool.filter((o) => o !== c.first && c.single(o)).slice(0, 3)];
        const choices = ids.map(c.text);
        return { prompt: c.prompt, completion: pickBest ? choices[0] : choices[1], choices };
      });
    const best = await evaluateTask(ctx, model, zero, tok, run(zero), 'mc', examples(true), OPTS);
    const notBest = await evaluateTask(ctx, model, zero, tok, run(zero), 'mc', examples(false), OPTS);
    expect(best.kind).toBe('multiple-choice');
    expect(best.choice_accuracy).toBe(1);
    expect(notBest.choice_accuracy).toBe(0);
  });

  it('an adapter with B = 0 scores exactly the base model; a non-zero one changes the scores', async () => {
    const ctx = await gpu();
    const examples: EvalExample[] = PROMPTS.map((prompt) => ({ prompt, completion: ' blue.' }));
    const other = createLora(ctx, model.config, { rank: 1, alpha: 1, dropout: 0, targets: ['q'] }, 0);
    const a = await evaluateTask(ctx, model, zero, tok, run(zero), 't', examples, OPTS);
    const b = await evaluateTask(ctx, model, other, tok, run(other), 't', examples, OPTS);
    const c = await evaluateTask(ctx, model, noisy, tok, run(noisy), 't', examples, OPTS);
    other.release();
    expect(a).toEqual(b);
    expect(Math.abs(c.loss! - a.loss!)).toBeGreaterThan(1e-2);
  });

  it('greedy decoding with a draft returns exactly the plain greedy tokens, for right and wrong drafts', async () => {
    const ctx = await gpu();
    const prompts = PROMPTS.map((p) => tok.encode(p, { bos: true }));
    for (const adapter of [zero, noisy]) {
      const plain = await greedyDecode(ctx, model, adapter, run(adapter), prompts, {
        maxNewTokens: 7,
        eosId: tok.eosId,
      });
      const right = await greedyDecode(
        ctx,
        model,
        adapter,
        run(adapter),
        prompts,
        { maxNewTokens: 7, eosId: tok.eosId },
        plain.map((t) => t.slice(0, 5)),
      );
      const half = plain.map((t, i) => (i % 2 ? [...t.slice(0, 2), (t[2] + 1) % 512, 7, 9] : [3, 4]));
      const wrong = await greedyDecode(
        ctx,
        model,
        adapter,
        run(adapter),
        prompts,
        { maxNewTokens: 7, eosId: tok.eosId },
        half,
      );
      const long = await greedyDecode(
        ctx,
        model,
        adapter,
        run(adapter),
        prompts,
        { maxNewTokens: 7, eosId: tok.eosId },
        plain.map((t) => [...t, ...t]),
      );
      expect(right).toEqual(plain);
      expect(wrong).toEqual(plain);
      expect(long).toEqual(plain);
    }
  });

  it('held-out loss scores exactly the tokens the training loss scores; without EOS, the examples without EOS', async () => {
    const ctx = await gpu();
    const examples: EvalExample[] = PROMPTS.map((prompt, i) => ({
      prompt,
      completion: [' blue.', ' woof.', ' Sam ate.', ' sad.', ' cat.'][i],
    }));
    const tokenized = examples.map((e) => tokenizeExample(tok, e, { maxLength: OPTS.maxSeqLen, eos: true }));
    const grads = createGrads(ctx, noisy);
    const total = trainStep(ctx, model, noisy, packBatch(tokenized), run(noisy), grads);
    const [sum, count] = await ctx.read(total);
    [total, ...grads].forEach((t) => t.release());
    const withEos = await evaluateTask(ctx, model, noisy, tok, run(noisy), 't', examples, OPTS);
    const withoutEos = await evaluateTask(ctx, model, noisy, tok, run(noisy), 't', examples, {
      ...OPTS,
      appendEos: false,
    });
    expect(count).toBe(tokenized.reduce((n, e) => n + e.completion.length, 0));
    expect(withEos.loss!).toBeCloseTo(sum / count, 5);
    expect(withEos.loss_no_eos!).toBeCloseTo(withoutEos.loss!, 5);
    expect(withoutEos.loss_no_eos).toBe(withoutEos.loss);
    expect(withEos.loss!).toBeGreaterThan(withEos.loss_no_eos! + 0.1); // the EOS target is hard for stories260K
  });
});
