// Model configuration from each source format, on the real stories260K files (GGUF and llama2.c .bin).

import { describe, expect, it } from 'vitest';
import { fileSource, memorySource } from '../../src/io/byteSource';
import { readGguf } from '../../src/io/gguf';
import { readLlama2c, readLlama2cTokenizer } from '../../src/io/llama2c';
import {
  configFromGguf,
  configFromHf,
  configFromLlama2c,
  llama3FreqFactors,
  parameterCount,
} from '../../src/model/config';
import { sharedPath } from '../helpers/shared';

const DIR = `${sharedPath('models/stories260K')}/`;

describe('model files', () => {
  it('reads the same configuration from stories260K.gguf and stories260K.bin', async () => {
    const g = await readGguf(await fileSource(`${DIR}stories260K.gguf`));
    const emb = g.tensors.find((t) => t.name === 'token_embd.weight')!;
    const fromGguf = configFromGguf(
      g.metadata,
      g.tensors.map((t) => t.name),
      emb.shape[0],
    );
    const bin = await readLlama2c(await fileSource(`${DIR}stories260K.bin`));
    const binConfig = configFromLlama2c(bin.header);
    const shape = {
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      headDim: 8,
      vocabSize: 512,
      ropePairing: 'adjacent',
    };
    expect(fromGguf).toMatchObject(shape);
    expect(binConfig).toMatchObject({ ...shape, tiedEmbeddings: true, contextLength: 512 });
    expect(fromGguf.normEps).toBeCloseTo(1e-5, 9);
    // The same weights in both files: compare the first layer's Q bytes.
    const gq = g.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    const bq = bin.tensors.find((t) => t.name === 'blk.0.attn_q.weight')!;
    const gs = await fileSource(`${DIR}stories260K.gguf`);
    const bs = await fileSource(`${DIR}stories260K.bin`);
    expect(await bs.read(bq.offset, bq.byteLength)).toEqual(await gs.read(gq.offset, gq.byteLength));
    expect(parameterCount(binConfig)).toBe(64 * 512 + 5 * (64 * 64 * 2 + 2 * 64 * 32 + 3 * 64 * 172 + 128) + 64);
  });

  it('reads the llama2.c tokenizer', async () => {
    const tok = await readLlama2cTokenizer(await fileSource(`${DIR}tok512.bin`), 512);
    expect(tok.pieces.length).toBe(512);
    expect(tok.pieces[1]).toMatch(/<s>/);
    expect(tok.pieces.some((p) => p.includes('Once') || p.includes('upon'))).toBe(true);
  });

  it('refuses truncated llama2.c files and unsupported architectures with clear errors', async () => {
    const bs = await fileSource(`${DIR}stories260K.bin`);
    const head = await bs.read(0, 4096);
    await expect(readLlama2c(memorySource(head))).rejects.toThrow(/implies \d+ bytes but the file has 4096/);
    expect(() => configFromHf({ model_type: 'gpt2' })).toThrow(/model_type "gpt2" is not supported/);
    expect(() =>
      configFromHf({
        model_type: 'llama',
        hidden_size: 96,
        num_attention_heads: 6,
        num_key_value_heads: 4,
        intermediate_size: 8,
        num_hidden_layers: 1,
        vocab_size: 10,
      }),
    ).toThrow(/not a multiple of 4 KV heads/);
  });

  it('computes Llama-3 frequency factors like HF', () => {
    const cfg = configFromHf({
      model_type: 'llama',
      hidden_size: 2048,
      num_attention_heads: 32,
      num_key_value_heads: 8,
      intermediate_size: 8192,
      num_hidden_layers: 16,
      vocab_size: 128256,
      rope_theta: 500000,
      tie_word_embeddings: true,
      rope_scaling: {
        rope_type: 'llama3',
        factor: 32,
        low_freq_factor: 1,
        high_freq_factor: 4,
        original_max_position_embeddings: 8192,
      },
    });
    const f = llama3FreqFactors(cfg)!;
    expect(f.length).toBe(32);
    expect(f[0]).toBe(1); // high frequencies unchanged
    expect(f[31]).toBe(32); // low frequencies divided by the factor
    expect(f.every((v, i) => i === 0 || v >= f[i - 1])).toBe(true);
  });
});
