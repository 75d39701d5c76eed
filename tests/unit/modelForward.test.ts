// The whole forward pass on the GPU with real weights: stories260K (llama2.c .bin and GGUF) continues
// BOS + "Once upon a time" greedily with exactly the text llama.cpp produces (../shared/SOURCES.md).

import { afterAll, describe, expect, it } from 'vitest';
import type { ByteSource } from '../../src/io/byteSource';
import type { LlamaConfig } from '../../src/model/config';
import { forwardLogits } from '../../src/model/forward';
import { loadModel } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import type { ModelWeights } from '../../src/model/weights';
import { gpu } from '../helpers/gpu';
import { sharedPath } from '../helpers/shared';

const EXPECTED =
  'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball. She wanted to play with it, but it was too high.';
const sources: ByteSource[] = [];
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close?.()));
});

async function greedy(w: ModelWeights, cfg: LlamaConfig, prompt: number[], steps: number): Promise<number[]> {
  const ctx = await gpu();
  const ids = [...prompt];
  for (let s = 0; s < steps; s++) {
    const logits = forwardLogits(ctx, w, cfg, Uint32Array.from(ids));
    const all = await ctx.read(logits);
    logits.release();
    const last = all.subarray((ids.length - 1) * cfg.vocabSize);
    let best = 0;
    for (let i = 1; i < cfg.vocabSize; i++) if (last[i] > last[best]) best = i;
    ids.push(best);
  }
  return ids;
}

describe('stories260K forward on the GPU', () => {
  it('llama2.c .bin + tok512.bin (found beside it): greedy continuation matches llama.cpp', async () => {
    const ctx = await gpu();
    const files = await openModelPath(sharedPath('models/stories260K/stories260K.bin'));
    const m = await loadModel(ctx, files);
    sources.push(...(files.kind === 'llama2c' ? [files.file, files.tokenizer!] : []));
    const tok = m.tokenizer!;
    const prompt = tok.encode('Once upon a time');
    expect(prompt).toEqual([1, 403, 407, 261, 378]);
    const ids = await greedy(m.weights, m.config, prompt, 60);
    expect(tok.decode(ids).startsWith(EXPECTED)).toBe(true);
  });

  it('GGUF (untied head, Q/K in llama.cpp layout): the same continuation', async () => {
    const ctx = await gpu();
    const files = await openModelPath(sharedPath('models/stories260K/stories260K.gguf'));
    if (files.kind === 'gguf') sources.push(files.file);
    const m = await loadModel(ctx, files);
    expect(m.config.tiedEmbeddings).toBe(false);
    const tok = m.tokenizer!; // the vocabulary embedded in the GGUF
    const ids = await greedy(m.weights, m.config, tok.encode('Once upon a time'), 40);
    const text = tok.decode(ids);
    expect(text.length).toBeGreaterThan(100); // 40 tokens, all within the known continuation
    expect(EXPECTED.startsWith(text)).toBe(true);
  });
});
