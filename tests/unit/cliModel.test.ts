// The model commands as a user runs them (subprocess, Dawn): `info` on the real stories260K files, `logits`
// writing [T][V] JSON whose last row predicts what llama.cpp predicts, and clear errors for bad input.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { sharedPath } from '../helpers/shared';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

const GGUF = sharedPath('models/stories260K/stories260K.gguf');
const BIN = sharedPath('models/stories260K/stories260K.bin');
/** BOS + "Once upon a time"; llama.cpp's next token is 432 (","), its argmax at the last position. */
const PROMPT = '1,403,407,261,378';
const out = mkdtempSync(join(tmpdir(), 'cli-model-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const argmax = (row: number[]) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

describe('cli info', () => {
  it('describes the GGUF: architecture, configuration, parameters, tensor types, memory, tokenizer', async () => {
    const info = JSON.parse((await cli('info', GGUF)).stdout);
    expect(info).toMatchObject({
      format: 'gguf',
      architecture: 'llama',
      parameters: 292800,
      tensors: 48,
      tensorTypes: { F32: 48 },
    });
    expect(info.config).toMatchObject({
      dim: 64,
      hiddenDim: 172,
      nLayers: 5,
      nHeads: 8,
      nKvHeads: 4,
      vocabSize: 512,
      tiedEmbeddings: false,
    });
    expect('tokenizer' in info).toBe(true);
    // All F32, kept: every parameter takes 4 bytes on the GPU.
    expect(info.memory).toMatchObject({
      quant: 'keep',
      weightBytes: 4 * 292800,
      weightBytesByType: { f32: 4 * 292800 },
    });
    expect(info.memory.totalBytes).toBe(
      info.memory.weightBytes + info.memory.kvCacheBytes + info.memory.activationBytes,
    );
  });

  it('describes the llama2.c .bin with its tokenizer, and the memory quantized to Q8_0', async () => {
    const info = JSON.parse((await cli('info', BIN, '--quant', 'q8_0')).stdout);
    expect(info).toMatchObject({ format: 'llama2c', architecture: 'llama', tokenizer: { vocabSize: 512, bos: 1 } });
    expect(info.config.tiedEmbeddings).toBe(true);
    // Rows of 64 become Q8_0 (34 bytes per 32 values); ffn_down's rows of 172 cannot, and stay f32, as do norms.
    const q8 = 512 * 2 * 34 + 5 * (64 * 2 * 34 + 2 * 32 * 2 * 34 + 64 * 2 * 34 + 2 * 172 * 2 * 34);
    const f32 = 5 * (64 * 172 * 4 + 2 * 64 * 4) + 64 * 4;
    expect(info.memory.weightBytesByType).toEqual({ q8_0: q8, f32 });
  });
});

describe('cli logits', () => {
  it("writes [T][V] logits of exactly the given ids; the last row predicts llama.cpp's next token", async () => {
    const file = join(out, 'gguf.json');
    await cli('logits', GGUF, '--tokens', PROMPT, '--json', file);
    const { logits } = JSON.parse(readFileSync(file, 'utf8'));
    expect(logits.length).toBe(5);
    expect(logits.every((row: number[]) => row.length === 512 && row.every(Number.isFinite))).toBe(true);
    // Each prompt token is the model's own greedy prediction at the position before it, and then ",".
    expect(logits.map(argmax)).toEqual([403, 407, 261, 378, 432]);
  });

  it('runs the llama2.c .bin quantized to Q8_0 on load with the same prediction', async () => {
    const file = join(out, 'bin.json');
    await cli('logits', BIN, '--tokens', PROMPT, '--quant', 'q8_0', '--json', file);
    const { logits } = JSON.parse(readFileSync(file, 'utf8'));
    expect(logits.length).toBe(5);
    expect(argmax(logits[4])).toBe(432);
  });

  it('fails clearly on bad input', async () => {
    const json = join(out, 'never.json');
    const cases: [string[], RegExp][] = [
      [['logits', join(out, 'nope.gguf'), '--tokens', '1', '--json', json], /nope\.gguf: no such file or folder/],
      [['logits', GGUF, '--tokens', '1,600', '--json', json], /id 600 is outside the vocabulary \(0\.\.511\)/],
      [['logits', GGUF, '--tokens', '1,x', '--json', json], /"x" is not a token id/],
      [['logits', GGUF, '--tokens', '1,2'], /--json OUT is required/],
      [['logits', GGUF, '--tokens', '1,2', '--task', 'colors', '--json', json], /--task applies with --adapter DIR/],
      [
        ['logits', GGUF, '--tokens', '1', '--quant', 'q5', '--json', json],
        /--quant q5: expected one of keep, q8_0, q4_0/,
      ],
      [['info'], /expected one <model>/],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        await expect(cli(...args), args.join(' ')).rejects.toMatchObject({
          code: 1,
          stderr: expect.stringMatching(message),
        });
      }),
    );
  });
});
