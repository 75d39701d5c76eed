// `cli logits <model> --tokens 1,2,3 --json OUT`: the logits of exactly these token ids (no BOS added), one
// row per position, computed on the GPU and written as {"logits": number[T][V]} — what tests and users compare
// with llama.cpp or transformers. With --adapter DIR (and --task NAME for MTL-LoRA) the adapter's branch is
// added on every adapted projection: the training forward (src/train/block.ts) with nothing kept, which gives
// every position's logits in one pass (generation instead uses the KV-cached path with the same adapter hooks).

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { forwardLogits } from '../model/forward';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { copyRows } from '../ops/copyRows';
import { embedding } from '../ops/embedding';
import { linear } from '../ops/linear';
import { rmsnorm } from '../ops/rmsnorm';
import { type StepEnv, forwardInference } from '../train/block';
import type { TrainModel } from '../train/step';
import { adapterFromData, readAdapterDir, taskIndex } from './adapterDir';
import { ADAPTER_FLAGS, MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { defineCommand, parseCommandArgs, usageLine } from './flags';

export const LOGITS = defineCommand({
  name: 'logits',
  args: '<model>',
  summary: 'logits of exactly the given token ids, written as JSON',
  flags: {
    tokens: {
      type: 'string',
      value: '1,2,3',
      required: true,
      help: 'the token ids, comma-separated (no BOS is added)',
    },
    json: { type: 'string', value: 'OUT', required: true, help: 'where to write {"logits": [T][V]}' },
    ...ADAPTER_FLAGS,
    ...MODEL_FLAGS,
    ...KERNEL_FLAGS,
  },
});

/**
 * Records the forward pass of one sequence `tokens` with the adapter's branches (run.task picks MTL-LoRA's
 * task) and returns the logits of every position [T, vocab], or of the last one only [1, vocab].
 */
export function adapterForwardLogits(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  run: AdapterRun,
  tokens: Uint32Array,
  lastOnly = false,
): Tensor<'f32'> {
  const { config: cfg, weights: w } = model;
  const T = tokens.length;
  const ids = ctx.upload(tokens, [T], 'u32');
  const pos = ctx.upload(
    Uint32Array.from({ length: T }, (_, i) => i),
    [T],
    'u32',
  );
  const lengths = ctx.upload(Uint32Array.of(T), [1], 'u32');
  const env: StepEnv = {
    ctx,
    weights: w,
    cfg,
    adapter,
    run,
    T,
    pos,
    lengths,
    attn: { B: 1, S: T, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim },
  };
  const x = forwardInference(env, embedding(ctx, w.embed, ids, T));
  const rows = lastOnly ? 1 : T;
  const last = lastOnly ? copyRows(ctx, x, ctx.tensor([1, cfg.dim]), { rows: 1, width: cfg.dim, srcRow: T - 1 }) : x;
  const n = rmsnorm(ctx, last, w.outNorm, { T: rows, D: cfg.dim, eps: cfg.normEps });
  const logits = linear(ctx, n.y, w.head, rows);
  if (last !== x) last.release();
  [x, n.y, n.rrms, ids, pos, lengths].forEach((t) => t.release());
  return logits;
}

/** Comma-separated whole numbers; the vocabulary bound is checked once the model is known. */
export function parseTokenIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 1 && parts[0] === '') throw new UsageError('--tokens is empty: give at least one token id.');
  return parts.map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s)))
      throw new UsageError(`--tokens: "${s}" is not a token id.`);
    return Number(s);
  });
}

export async function logitsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, LOGITS);
  const path = modelArgument(positionals, usageLine(LOGITS));
  if (values.task !== undefined && values.adapter === undefined)
    throw new UsageError('--task applies with --adapter DIR.');
  const out = values.json;
  if (!existsSync(dirname(out))) throw new UsageError(`--json ${out}: the folder ${dirname(out)} does not exist.`);
  const ids = parseTokenIds(values.tokens);
  const quant = values.quant;
  const adapterData = values.adapter === undefined ? null : await readAdapterDir(values.adapter);
  const task = adapterData ? taskIndex(adapterData.config, values.task) : 0;

  const rows = await withModelFiles(path, values.tokenizer, async (files) => {
    // Check the ids against the headers before spending time on the GPU and the weights.
    const description = await describeModel(files);
    const { config } = description;
    const bad = ids.find((id) => id >= config.vocabSize);
    if (bad !== undefined)
      throw new UsageError(`--tokens: id ${bad} is outside the vocabulary (0..${config.vocabSize - 1}).`);
    if (ids.length > config.contextLength) {
      throw new UsageError(
        `--tokens: ${ids.length} tokens exceed the model's context length of ${config.contextLength}.`,
      );
    }
    const ctx = await openGpu(parseKernelSetting(values.kernels));
    try {
      const model = await loadDescribed(ctx, description, { quant });
      const tokens = Uint32Array.from(ids);
      let logits: Tensor<'f32'>;
      if (adapterData) {
        const adapter = adapterFromData(ctx, config, adapterData);
        logits = adapterForwardLogits(ctx, model, adapter, { task, dropoutSeed: 0, params: adapter.params }, tokens);
        adapter.release();
      } else {
        logits = forwardLogits(ctx, model.weights, config, tokens);
      }
      const data = await ctx.read(logits);
      logits.release();
      releaseWeights(model.weights);
      const V = config.vocabSize;
      return ids.map((_, t) => Array.from(data.subarray(t * V, (t + 1) * V)));
    } finally {
      ctx.destroy();
    }
  });
  await writeFile(out, JSON.stringify({ logits: rows }));
  console.log(`wrote logits [${rows.length}, ${rows[0].length}] to ${out}`);
}
