// `npm run bench -- eval`: evaluation of the quick-demo held-out sets (stories260K, the four story tasks) with
// a LoRA adapter trained here by the demo preset, three ways in the same run:
//   baseline   what evaluation did before: greedy decoding one forward pass over the whole sequences per new
//              token (8 prompts a pass, no cache), choice accuracy one pass per example, the loss in its own
//              passes;
//   current    src/train/evaluate.ts, one task at a time and all four sharing every pass (evaluateTaskSet):
//              greedy decoding through a batched KV cache (every prompt one sequence; each further token one
//              small pass for all sequences), the reference verified as a draft (the first pass yields every
//              greedy token up to one past the first mismatch), choices of many examples in one pass, both
//              losses from one pass.
// Both must give the same loss, exact match and choice accuracy; the ratio of wall times and the count of
// GPU→host readbacks (a machine-independent count of passes) are printed and saved.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Adapter } from '../src/adapters/types';
import type { GpuContext } from '../src/gpu/context';
import type { Tokenizer } from '../src/io/tokenizer';
import { loadModel } from '../src/model/load';
import { openModelPath } from '../src/model/openPath';
import { releaseWeights } from '../src/model/weights';
import { headLogits } from '../src/model/kvCache';
import { embedding } from '../src/ops/embedding';
import { forwardInference } from '../src/train/block';
import {
  type EvalExample,
  type TaskEvaluation,
  evalLossOf,
  evaluateTask,
  evaluateTaskSet,
  parseEvalTask,
  tokenLosses,
} from '../src/train/evaluate';
import { presetSettings } from '../src/train/presets';
import { prepareTasks, runTraining } from '../src/train/run';
import type { TrainModel } from '../src/train/step';
import { splitTask, tokenizeExample } from '../src/data/tasks';
import { table } from './harness';
import { saveResults } from './files';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.SHARED_DIR ?? join(ROOT, '..', 'shared');
const TASKS = ['colors', 'animals', 'feelings', 'routine'];

/** Greedy continuations without a cache: every new token re-runs the whole sequences (the old decoding). */
async function decodeRecomputing(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  prompts: number[][],
  maxNewTokens: number[],
  eosId: number | null,
): Promise<number[][]> {
  const { config: cfg, weights: w } = model;
  const run = { task: 0, dropoutSeed: 0, params: adapter.params };
  const out: number[][] = prompts.map(() => []);
  const done = prompts.map((_, b) => maxNewTokens[b] <= 0);
  while (done.includes(false)) {
    const live = prompts.map((_, b) => b).filter((b) => !done[b]);
    const seqs = live.map((b) => [...prompts[b], ...out[b]]);
    const B = seqs.length;
    const S = Math.max(...seqs.map((q) => q.length));
    const tokens = new Uint32Array(B * S);
    seqs.forEach((q, b) => tokens.set(q, b * S));
    const ids = ctx.upload(tokens, [B * S], 'u32');
    const pos = ctx.upload(
      Uint32Array.from({ length: B * S }, (_, i) => i % S),
      [B * S],
      'u32',
    );
    const lengths = ctx.upload(
      Uint32Array.from(seqs, (q) => q.length),
      [B],
      'u32',
    );
    const x = forwardInference(
      {
        ctx,
        weights: w,
        cfg,
        adapter,
        run,
        T: B * S,
        pos,
        lengths,
        attn: { B, S, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim },
      },
      embedding(ctx, w.embed, ids, B * S),
    );
    const logits = headLogits(
      ctx,
      w,
      cfg,
      x,
      seqs.map((q, b) => b * S + q.length - 1),
    );
    const rows = await ctx.read(logits);
    [ids, pos, lengths, x, logits].forEach((t) => t.release());
    live.forEach((b, i) => {
      let id = 0;
      for (let v = 1; v < cfg.vocabSize; v++) if (rows[i * cfg.vocabSize + v] > rows[i * cfg.vocabSize + id]) id = v;
      if (id === eosId) done[b] = true;
      else if (out[b].push(id) >= maxNewTokens[b]) done[b] = true;
    });
  }
  return out;
}

/** The evaluation as it was: one pass per new token, one per example's choices, the loss on its own. */
async function baseline(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  tok: Tokenizer,
  examples: EvalExample[],
  o: { maxSeqLen: number },
) {
  const run = { task: 0, dropoutSeed: 0, params: adapter.params };
  const loss = await evalLossOf(
    ctx,
    model,
    adapter,
    run,
    examples.map((e) => tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: true })),
  );
  let exact = 0;
  for (let i = 0; i < examples.length; i += 8) {
    const chunk = examples.slice(i, i + 8);
    const refs = chunk.map((e) => tokenizeExample(tok, e, { maxLength: o.maxSeqLen, eos: false }));
    const outs = await decodeRecomputing(
      ctx,
      model,
      adapter,
      refs.map((r) => r.prompt),
      refs.map((r) => r.completion.length + 2),
      tok.eosId,
    );
    outs.forEach((ids, k) => {
      if (tok.decode(ids).trim() === chunk[k].completion.trim()) exact++;
    });
  }
  let correct = 0;
  if (examples.every((e) => e.choices)) {
    for (const ex of examples) {
      const nll = (
        await tokenLosses(
          ctx,
          model,
          adapter,
          run,
          ex.choices!.map((c) =>
            tokenizeExample(tok, { prompt: ex.prompt, completion: c }, { maxLength: o.maxSeqLen, eos: false }),
          ),
        )
      ).map((r) => r.reduce((a, v) => a + v, 0));
      const best = nll.reduce((b, v, i) => (v < nll[b] ? i : b), 0);
      if (ex.choices![best].trim() === ex.completion.trim()) correct++;
    }
  }
  return {
    loss,
    exact_match: exact / examples.length,
    choice_accuracy: examples.every((e) => e.choices) ? correct / examples.length : null,
  };
}

interface Measured<T> {
  value: T;
  seconds: number;
  reads: number;
}

export async function benchEval(ctx: GpuContext): Promise<void> {
  const files = await openModelPath(join(SHARED, 'models/stories260K/stories260K.bin'), {
    tokenizer: join(SHARED, 'models/stories260K/tok512.bin'),
  });
  const loaded = await loadModel(ctx, files);
  const tok = loaded.tokenizer!;
  const model = { weights: loaded.weights, config: loaded.config };
  const tasks = TASKS.map((n) => parseEvalTask(n, readFileSync(join(ROOT, `public/demo/stories/${n}.jsonl`), 'utf8')));
  const s = presetSettings('demo', 'lora', { evalEvery: 0, checkpointEvery: 0 });
  console.log('training the demo preset (lora) for an adapter to evaluate…');
  const { adapter } = await runTraining({ ctx, model, tasks: prepareTasks(tok, tasks, s), settings: s });
  let reads = 0;
  // Every readback (ctx.read included) goes through readBytes.
  const readBytes = ctx.readBytes.bind(ctx);
  ctx.readBytes = ((b, n) => {
    reads++;
    return readBytes(b, n);
  }) as typeof ctx.readBytes;
  const measure = async <T>(f: () => Promise<T>) => {
    reads = 0;
    const t0 = performance.now();
    const value = await f();
    return { value, seconds: (performance.now() - t0) / 1000, reads };
  };
  const helds = tasks.map(
    (task) => splitTask(task, { poolSize: s.examplesPerTask, evalMax: s.evalExamplesPerTask, seed: s.seed }).eval,
  );
  const run = { task: 0, dropoutSeed: 0, params: adapter.params };
  const opts = { maxSeqLen: s.maxSeqLen, appendEos: true, accuracy: true };
  // Warm-up: pipelines compiled before timing.
  await baseline(ctx, model, adapter, tok, helds[0].slice(0, 2), s);
  await evaluateTaskSet(ctx, model, adapter, tok, run, [{ name: 'warm-up', examples: helds[0].slice(0, 2) }], opts);
  const olds: Measured<Awaited<ReturnType<typeof baseline>>>[] = [];
  for (const held of helds) olds.push(await measure(() => baseline(ctx, model, adapter, tok, held, s)));
  // One task at a time (as the run's MTL-LoRA or test-time adaptation needs), and all four sharing every pass
  // (a LoRA-family adapter as it is, what Evaluate and the study do).
  const alone: Measured<TaskEvaluation>[] = [];
  for (const [t, held] of helds.entries())
    alone.push(await measure(() => evaluateTask(ctx, model, adapter, tok, run, tasks[t].name, held, opts)));
  const together = await measure(() =>
    evaluateTaskSet(
      ctx,
      model,
      adapter,
      tok,
      run,
      tasks.map((task, t) => ({ name: task.name, examples: helds[t] })),
      opts,
    ),
  );
  const rows = tasks.map((task, t) => {
    const old = olds[t].value;
    for (const now of [alone[t].value, together.value[t]]) {
      const same =
        Math.abs(old.loss! - now.loss!) < 1e-5 * old.loss! &&
        old.exact_match === now.exact_match &&
        old.choice_accuracy === now.choice_accuracy;
      if (!same)
        throw new Error(`${task.name}: the evaluations disagree: ${JSON.stringify(old)} vs ${JSON.stringify(now)}`);
    }
    if (JSON.stringify(alone[t].value) !== JSON.stringify(together.value[t])) {
      throw new Error(
        `${task.name}: evaluated alone and with the other tasks differ: ${JSON.stringify(alone[t].value)} vs ${JSON.stringify(together.value[t])}`,
      );
    }
    return {
      task: task.name,
      examples: helds[t].length,
      'baseline s': olds[t].seconds.toFixed(2),
      'alone s': alone[t].seconds.toFixed(2),
      'baseline readbacks': olds[t].reads,
      'alone readbacks': alone[t].reads,
      'answer accuracy': together.value[t].answer_accuracy!.toFixed(2),
    };
  });
  const sum = (xs: { seconds: number }[]) => xs.reduce((a, x) => a + x.seconds, 0);
  const totals = {
    baseline: sum(olds),
    alone: sum(alone),
    together: together.seconds,
    readbacks: {
      baseline: olds.reduce((a, x) => a + x.reads, 0),
      alone: alone.reduce((a, x) => a + x.reads, 0),
      together: together.reads,
    },
  };
  ctx.readBytes = readBytes;
  console.log(table(rows));
  console.log(
    `all four held-out sets: baseline ${totals.baseline.toFixed(1)} s (${totals.readbacks.baseline} readbacks); ` +
      `one task at a time ${totals.alone.toFixed(1)} s (${(totals.baseline / totals.alone).toFixed(1)}×, ${totals.readbacks.alone} readbacks); ` +
      `all four together ${totals.together.toFixed(1)} s (${(totals.baseline / totals.together).toFixed(1)}×, ${totals.readbacks.together} readbacks); same numbers`,
  );
  console.log(`saved ${saveResults(ctx, 'eval', { rows, totals })}`);
  adapter.release();
  releaseWeights(loaded.weights);
  if (files.kind === 'llama2c') await Promise.all([files.file, files.tokenizer].map((x) => x?.close?.()));
}
