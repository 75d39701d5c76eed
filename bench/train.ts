// `npm run bench -- train`: whole training iterations per method, on stories260K (real weights, demo tasks) and
// on a random model shaped like SmolLM2-135M (dim 576, ffn 1536, 9/3 heads of 64, vocab 49152; only 2 of its
// 30 layers, so an iteration finishes on a software adapter), at sequence 128 and 256. Reports tokens/s,
// achieved GFLOP/s of the step as a fraction of our best matmul GFLOP/s measured in the same run, and the
// peak GPU memory the buffer pool held. Results: bench/results/train-<adapter>.json.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { GpuContext } from '../src/gpu/context';
import { matmul } from '../src/ops/matmul';
import type { LlamaConfig } from '../src/model/config';
import { loadModel } from '../src/model/load';
import { openModelPath } from '../src/model/openPath';
import type { TensorSource } from '../src/model/tensorSource';
import { type ModelWeights, loadWeights, releaseWeights } from '../src/model/weights';
import { runTraining } from '../src/train/run';
import { TRAIN_METHODS, type TrainMethod, resolveSettings } from '../src/train/settings';
import { type TaskSplit, type TokenizedExample, parseTaskJsonl, tokenizeExample } from '../src/data/tasks';
import { smolConfig } from './smolShape';
import { table, timeIt } from './harness';
import { saveResults } from './files';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = process.env.SHARED_DIR ?? join(ROOT, '..', 'shared');

interface Row extends Record<string, string | number> {
  model: string;
  method: string;
  seq: number;
  tokens_per_s: number;
  gflops: number;
  of_best_matmul: number;
  peak_mib: number;
}

/** FLOPs per token of a training pass (forward, input gradients, attention both ways) at sequence S. */
function flopsPerToken(c: LlamaConfig, S: number, loraParams: number): number {
  const q = c.nHeads * c.headDim;
  const kv = c.nKvHeads * c.headDim;
  const linear = c.nLayers * (c.dim * q + 2 * c.dim * kv + q * c.dim + 3 * c.dim * c.hiddenDim) + c.dim * c.vocabSize;
  // Causal attention: QKᵀ and PV over (S+1)/2 keys on average; backward counted as 2.5× forward.
  const attention = c.nLayers * 2 * 2 * c.nHeads * c.headDim * ((S + 1) / 2);
  // Forward 2·W, input gradient 2·W (no weight gradients for the frozen base); LoRA forward + 3 backward products.
  return 2 * linear * 2 + attention * 3.5 + 2 * loraParams * 4;
}

function randomSmolLike(): { config: LlamaConfig; tensors: TensorSource[] } {
  const config = smolConfig(2);
  const tensor = (name: string, shape: number[], fill: (i: number) => number): TensorSource => ({
    name,
    shape,
    dtype: 'F32',
    byteLength: 4 * shape.reduce((a, b) => a * b, 1),
    read: async () =>
      new Uint8Array(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i)).buffer),
  });
  const rnd = (scale: number) => () => (Math.random() * 2 - 1) * scale;
  const ones = () => 1;
  const t: TensorSource[] = [
    tensor('token_embd.weight', [config.vocabSize, config.dim], rnd(1)),
    tensor('output_norm.weight', [config.dim], ones),
  ];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `blk.${l}.`;
    const m = (n: string, rows: number, cols: number) => t.push(tensor(p + n, [rows, cols], rnd(1 / Math.sqrt(cols))));
    t.push(tensor(`${p}attn_norm.weight`, [config.dim], ones), tensor(`${p}ffn_norm.weight`, [config.dim], ones));
    m('attn_q.weight', 576, 576);
    m('attn_k.weight', 192, 576);
    m('attn_v.weight', 192, 576);
    m('attn_output.weight', 576, 576);
    m('ffn_gate.weight', 1536, 576);
    m('ffn_up.weight', 1536, 576);
    m('ffn_down.weight', 576, 1536);
  }
  return { config, tensors: t };
}

/** Tasks of random tokens: each example exactly S tokens, half prompt, half completion. */
function randomTasks(vocab: number, S: number, n = 8): TaskSplit<TokenizedExample>[] {
  const ids = (k: number) => Array.from({ length: k }, () => 3 + Math.floor(Math.random() * (vocab - 3)));
  return ['a', 'b', 'c'].map((name) => ({
    name,
    eval: [],
    train: Array.from({ length: n }, () => ({ prompt: ids(S / 2), completion: ids(S / 2) })),
  }));
}

/** Our best f32 matmul rate in this run: the better of 512³ and 1024³ (one short timing can land in noise). */
async function bestMatmul(ctx: GpuContext): Promise<number> {
  let best = 0;
  for (const n of [512, 1024]) {
    const a = ctx.upload(Float32Array.from({ length: n * n }, Math.random), [n, n]);
    const c = ctx.tensor([n, n]);
    const s = await timeIt(
      () => void matmul(ctx, a, a, n, n, n, {}, c),
      () => ctx.sync(),
      3,
      2,
    );
    [a, c].forEach((t) => t.release());
    best = Math.max(best, (2 * n ** 3) / s / 1e9);
  }
  return best;
}

/** Episode sizes of one benchmark iteration (the first of `iterations` warms up and is not timed). */
interface Sizes {
  iterations: number;
  examples: number;
  batchSize: number;
}

async function benchRun(
  ctx: GpuContext,
  rows: Row[],
  best: number,
  model: string,
  m: { weights: ModelWeights; config: LlamaConfig },
  tasksFor: (S: number) => TaskSplit<TokenizedExample>[],
  seqs: number[],
  z: Sizes,
) {
  for (const S of seqs) {
    for (const method of TRAIN_METHODS as readonly TrainMethod[]) {
      const settings = resolveSettings(method, {
        iterations: z.iterations,
        tasksPerIteration: 2,
        supportSize: z.examples,
        querySize: z.examples,
        innerSteps: 1,
        batchSize: z.batchSize,
        examplesPerTask: 8,
        maxSeqLen: S,
        evalEvery: 0,
        checkpointEvery: 0,
        warmupSteps: 0,
      });
      ctx.pool.peakBytes = ctx.pool.inUseBytes;
      const tps: number[] = [];
      const result = await runTraining({
        ctx,
        model: m,
        tasks: tasksFor(S),
        settings,
        onRecords: (recs) =>
          recs.filter((r) => r.task === 'mean' && r.iteration > 1).forEach((r) => tps.push(r.tokens_per_s)),
      });
      const loraParams = result.adapter.params.reduce((n, p) => n + p.numel, 0);
      result.adapter.release();
      const tokensPerS = tps.reduce((a, b) => a + b, 0) / tps.length;
      const gflops = (tokensPerS * flopsPerToken(m.config, S, loraParams)) / 1e9;
      const row: Row = {
        model,
        method,
        seq: S,
        tokens_per_s: +tokensPerS.toFixed(1),
        gflops: +gflops.toFixed(3),
        of_best_matmul: +(gflops / best).toFixed(2),
        peak_mib: +(ctx.pool.peakBytes / 2 ** 20).toFixed(1),
      };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
}

export async function benchTrain(ctx: GpuContext): Promise<void> {
  const best = await bestMatmul(ctx);
  console.log(`best matmul (512³ or 1024³): ${best.toFixed(3)} GFLOP/s`);
  const rows: Row[] = [];

  const files = await openModelPath(join(SHARED, 'models/stories260K/stories260K.bin'));
  const stories = await loadModel(ctx, files);
  if (files.kind === 'llama2c') await Promise.all([files.file.close?.(), files.tokenizer?.close?.()]);
  const demoDir = join(ROOT, 'public/demo/stories');
  const demo = readdirSync(demoDir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => parseTaskJsonl(f.replace(/\.jsonl$/, ''), readFileSync(join(demoDir, f), 'utf8')));
  // Demo examples are short: repeat each one's completion so sequences reach the benchmarked length.
  const storiesTasks = (S: number) =>
    demo.map((t) => ({
      name: t.name,
      eval: [],
      train: t.examples.slice(0, 8).map((ex) => {
        const e = tokenizeExample(stories.tokenizer!, ex, { maxLength: S });
        const completion: number[] = [];
        while (e.prompt.length + completion.length + e.completion.length <= S) completion.push(...e.completion);
        return { prompt: e.prompt, completion: completion.length ? completion : e.completion };
      }),
    }));
  await benchRun(ctx, rows, best, 'stories260K', stories, storiesTasks, [128, 256], {
    iterations: 3,
    examples: 2,
    batchSize: 4,
  });
  releaseWeights(stories.weights);

  const smol = randomSmolLike();
  const weights = await loadWeights(ctx, smol.tensors, smol.config, { quant: 'q8_0' });
  await benchRun(
    ctx,
    rows,
    best,
    'SmolLM2-135M-shaped (2 layers, Q8_0)',
    { weights, config: smol.config },
    (S) => randomTasks(smol.config.vocabSize, S),
    [128, 256],
    { iterations: 2, examples: 1, batchSize: 2 },
  );
  releaseWeights(weights);

  console.log(`\n${table(rows)}\n\nresults: ${saveResults(ctx, 'train', { bestMatmulGflops: best, rows })}`);
}
