// `cli logits <model> --tokens 1,2,3 --json OUT`: the logits of exactly these token ids (no BOS added), one
// row per position, computed on the GPU and written as {"logits": number[T][V]} — what tests and users compare
// with llama.cpp or transformers.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GpuContext } from '../gpu/context';
import { forwardLogits } from '../model/forward';
import { describeModel, loadModel } from '../model/load';
import { releaseWeights } from '../model/weights';
import { UsageError, modelArgument, parseCommandArgs, parseQuant, withModelFiles } from './args';

const USAGE = 'npm run cli -- logits <model> --tokens 1,2,3 [--quant keep|q8_0|q4_0] [--adapter DIR] ' +
  '[--tokenizer tokenizer.bin] --json OUT';

/** Comma-separated whole numbers; the vocabulary bound is checked once the model is known. */
export function parseTokenIds(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim());
  if (parts.length === 1 && parts[0] === '') throw new UsageError('--tokens is empty: give at least one token id.');
  return parts.map((s) => {
    if (!/^\d+$/.test(s) || !Number.isSafeInteger(Number(s))) throw new UsageError(`--tokens: "${s}" is not a token id.`);
    return Number(s);
  });
}

export async function logitsCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    tokens: { type: 'string' },
    quant: { type: 'string' },
    adapter: { type: 'string' },
    tokenizer: { type: 'string' },
    json: { type: 'string' },
  }, USAGE);
  const path = modelArgument(positionals, USAGE);
  if (values.adapter !== undefined) {
    throw new UsageError('--adapter is not supported yet: adapters arrive with training. Run without it for the base model.');
  }
  if (values.tokens === undefined) throw new UsageError(`--tokens is required.\nusage: ${USAGE}`);
  if (values.json === undefined) throw new UsageError(`--json OUT is required: the logits are written there.\nusage: ${USAGE}`);
  const out = values.json;
  if (!existsSync(dirname(out))) throw new UsageError(`--json ${out}: the folder ${dirname(out)} does not exist.`);
  const ids = parseTokenIds(values.tokens);
  const quant = parseQuant(values.quant);

  const rows = await withModelFiles(path, values.tokenizer, async (files) => {
    // Check the ids against the headers before spending time on the GPU and the weights.
    const { config } = await describeModel(files);
    const bad = ids.find((id) => id >= config.vocabSize);
    if (bad !== undefined) throw new UsageError(`--tokens: id ${bad} is outside the vocabulary (0..${config.vocabSize - 1}).`);
    if (ids.length > config.contextLength) {
      throw new UsageError(`--tokens: ${ids.length} tokens exceed the model's context length of ${config.contextLength}.`);
    }
    const ctx = await GpuContext.create();
    try {
      const model = await loadModel(ctx, files, { quant });
      const logits = forwardLogits(ctx, model.weights, model.config, Uint32Array.from(ids));
      const data = await ctx.read(logits);
      logits.release();
      releaseWeights(model.weights);
      const V = model.config.vocabSize;
      return ids.map((_, t) => Array.from(data.subarray(t * V, (t + 1) * V)));
    } finally {
      ctx.destroy();
    }
  });
  await writeFile(out, JSON.stringify({ logits: rows }));
  console.log(`wrote logits [${rows.length}, ${rows[0].length}] to ${out}`);
}
