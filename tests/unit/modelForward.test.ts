// The whole forward pass on the GPU with real weights: stories260K (llama2.c .bin and GGUF) continues
// BOS + "Once upon a time" greedily with exactly the text llama.cpp produces (../shared/SOURCES.md).

import { afterAll, describe, expect, it } from 'vitest';
import { type ByteSource, fileSource } from '../../src/io/byteSource';
import { readGguf } from '../../src/io/gguf';
import { readLlama2c, readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import { type LlamaConfig, configFromGguf } from '../../src/model/config';
import { forwardLogits } from '../../src/model/forward';
import { type ModelWeights, loadWeights } from '../../src/model/weights';
import { gpu } from '../helpers/gpu';
import { sharedPath } from '../helpers/shared';

const EXPECTED = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park. ' +
  'One day, she saw a big, red ball. She wanted to play with it, but it was too high.';
const sources: ByteSource[] = [];
const open = async (name: string) => {
  const s = await fileSource(sharedPath(`models/stories260K/${name}`));
  sources.push(s);
  return s;
};
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
  it('llama2.c .bin + tok512.bin: greedy continuation matches llama.cpp', async () => {
    const ctx = await gpu();
    const src = await open('stories260K.bin');
    const f = await readLlama2c(src);
    const w = await loadWeights(ctx, src, f.tensors.map((t) => ({ ...t, type: 'F32' })), f.config);
    const tok = new ScoredBpeTokenizer(await readLlama2cTokenizer(await open('tok512.bin'), 512));
    const prompt = tok.encode('Once upon a time');
    expect(prompt).toEqual([1, 403, 407, 261, 378]);
    const ids = await greedy(w, f.config, prompt, 60);
    expect(tok.decode(ids.slice(1)).startsWith(EXPECTED)).toBe(true);
  });

  it('GGUF (untied head, Q/K in llama.cpp layout): the same continuation', async () => {
    const ctx = await gpu();
    const src = await open('stories260K.gguf');
    const g = await readGguf(src);
    const emb = g.tensors.find((t) => t.name === 'token_embd.weight')!;
    const cfg = configFromGguf(g.metadata, g.tensors.map((t) => t.name), emb.shape[0]);
    expect(cfg.tiedEmbeddings).toBe(false);
    const w = await loadWeights(ctx, src, g.tensors.map((t) => ({ ...t, type: t.type.name })), cfg);
    const tok = new ScoredBpeTokenizer(await readLlama2cTokenizer(await open('tok512.bin'), 512));
    const ids = await greedy(w, cfg, tok.encode('Once upon a time'), 40);
    const text = tok.decode(ids.slice(1));
    expect(text.length).toBeGreaterThan(100); // 40 tokens, all within the known continuation
    expect(EXPECTED.startsWith(text)).toBe(true);
  });
});
