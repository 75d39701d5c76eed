// `npm run bench -- generate`: greedy generation on stories260K with the KV cache (src/model/generate.ts)
// against recomputing the whole sequence every step (forward.ts alone), same tokens checked. Moved here from
// tests/unit/generate.test.ts, which no longer compares elapsed times (that flakes on a loaded machine).

import { join } from 'node:path';
import type { GpuContext } from '../src/gpu/context';
import { forwardLogits } from '../src/model/forward';
import { generate } from '../src/model/generate';
import { loadModel } from '../src/model/load';
import { openModelPath } from '../src/model/openPath';
import { argmax } from '../src/model/sampling';
import { releaseWeights } from '../src/model/weights';
import { table } from './harness';
import { SHARED, saveResults } from './files';

const PROMPT = [1, 403, 407, 261, 378]; // BOS + "Once upon a time"
const STEPS = 60;

export async function benchGenerate(ctx: GpuContext): Promise<void> {
  const files = await openModelPath(join(SHARED, 'models/stories260K/stories260K.bin'));
  const m = await loadModel(ctx, files);
  if (files.kind === 'llama2c') await Promise.all([files.file, files.tokenizer].map((f) => f?.close?.()));
  const cached = await generate(ctx, m.weights, m.config, PROMPT, { maxNewTokens: STEPS, greedy: true });
  const cachedMs = cached.prefillMs + cached.decodeMs;
  const ids = [...PROMPT];
  const t0 = performance.now();
  for (let s = 0; s < STEPS; s++) {
    const logits = forwardLogits(ctx, m.weights, m.config, Uint32Array.from(ids));
    const all = await ctx.read(logits);
    logits.release();
    ids.push(argmax(all.subarray((ids.length - 1) * m.config.vocabSize)));
  }
  const recomputeMs = performance.now() - t0;
  releaseWeights(m.weights);
  if (ids.slice(PROMPT.length).join() !== cached.tokens.join())
    throw new Error('KV cache and recompute gave different tokens');
  const rows = [
    { path: 'KV cache', 'tokens/s': ((STEPS * 1000) / cachedMs).toFixed(1), ms: cachedMs.toFixed(0) },
    { path: 'recompute', 'tokens/s': ((STEPS * 1000) / recomputeMs).toFixed(1), ms: recomputeMs.toFixed(0) },
  ];
  console.log(table(rows));
  console.log(
    `KV cache ${(recomputeMs / cachedMs).toFixed(1)}× faster; saved ${saveResults(ctx, 'generate', { steps: STEPS, rows })}`,
  );
}
