// GGUF reading and writing: the real stories260K file, a write→read round trip, and malformed files.

import { describe, expect, it } from 'vitest';
import { fileSource, memorySource } from '../../src/io/byteSource';
import { GgufError, readGguf } from '../../src/io/gguf';
import { type GgufEntry, concatParts, writeGguf } from '../../src/io/ggufWriter';
import { sharedPath } from '../helpers/shared';

const STORIES = sharedPath('models/stories260K/stories260K.gguf');

function sample(): Uint8Array {
  const entries: GgufEntry[] = [
    { key: 'general.architecture', type: 'string', value: 'llama' },
    { key: 'llama.block_count', type: 'u32', value: 2 },
    { key: 'llama.attention.layer_norm_rms_epsilon', type: 'f32', value: 1e-5 },
    { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: ['<unk>', '<s>', 'héllo'] },
    { key: 'tokenizer.ggml.scores', type: 'array', itemType: 'f32', value: [0, -1.5, 2] },
    { key: 'big', type: 'u64', value: 2n ** 40n },
  ];
  const f32 = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
  return concatParts(
    writeGguf(entries, [
      { name: 'a', type: 'F32', shape: [2, 3], data: f32 },
      { name: 'q', type: 'Q8_0', shape: [3, 32], data: new Uint8Array(3 * 34).fill(7) },
    ]),
  );
}

describe('GGUF', () => {
  it('reads the real stories260K file', async () => {
    const f = await readGguf(await fileSource(STORIES));
    expect(f.version).toBe(3);
    expect(f.metadata.get('general.architecture')).toBe('llama');
    expect(f.metadata.get('llama.embedding_length')).toBe(64);
    expect(f.metadata.get('llama.attention.head_count_kv')).toBe(4);
    expect((f.metadata.get('tokenizer.ggml.tokens') as string[]).length).toBe(512);
    const q = f.tensors.find((t) => t.name === 'blk.0.attn_k.weight')!;
    expect(q.shape).toEqual([32, 64]);
    expect(q.type.name).toBe('F32');
    expect(f.tensors.length).toBe(3 + 5 * 9);
  });

  it('round-trips what it writes', async () => {
    const bytes = sample();
    const f = await readGguf(memorySource(bytes));
    expect(f.metadata.get('llama.block_count')).toBe(2);
    expect(f.metadata.get('llama.attention.layer_norm_rms_epsilon')).toBeCloseTo(1e-5, 10);
    expect(f.metadata.get('tokenizer.ggml.tokens')).toEqual(['<unk>', '<s>', 'héllo']);
    expect(f.metadata.get('tokenizer.ggml.scores')).toEqual([0, -1.5, 2]);
    expect(f.metadata.get('big')).toBe(2 ** 40);
    const [a, q] = f.tensors;
    expect(a).toMatchObject({ name: 'a', shape: [2, 3], byteLength: 24 });
    expect(Array.from(new Float32Array(bytes.slice(a.offset, a.offset + 24).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(q.offset % 32).toBe(0);
    expect(q).toMatchObject({ shape: [3, 32], byteLength: 102 });
  });

  const bad: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    [
      'wrong magic',
      (b) => {
        const c = b.slice();
        c[0] = 0x00;
        c[1] = 0x7f;
        return c;
      },
      /not a GGUF file/,
    ],
    [
      'unsupported version',
      (b) => {
        const c = b.slice();
        c[4] = 9;
        return c;
      },
      /version 9 is not supported/,
    ],
    ['truncated header', (b) => b.slice(0, 60), /truncated/],
    ['truncated data', (b) => b.slice(0, b.length - 40), /past the end of the file/],
    ['empty file', () => new Uint8Array(0), /needs 4 bytes/],
  ];
  for (const [what, corrupt, message] of bad) {
    it(`rejects a file with ${what}`, async () => {
      await expect(readGguf(memorySource(corrupt(sample())))).rejects.toThrow(message);
    });
  }

  it('rejects a header that lies about counts or string sizes, without allocating', async () => {
    const b = sample();
    const lyingCount = b.slice();
    new DataView(lyingCount.buffer).setBigUint64(16, 10n ** 12n, true); // KV count
    await expect(readGguf(memorySource(lyingCount))).rejects.toThrow(/more than a \d+-byte file can hold/);
    const lyingString = b.slice();
    new DataView(lyingString.buffer).setBigUint64(24, 2n ** 50n, true); // first key's length
    await expect(readGguf(memorySource(lyingString))).rejects.toThrow(GgufError);
  });

  it('names unsupported tensor types and rejects absurd dimensions', async () => {
    const q5 = concatParts(writeGguf([], [{ name: 'w', type: 'F32', shape: [1], data: new Uint8Array(4) }]));
    // The tensor type u32 sits after name (8+1 bytes), n_dims (4) and one dim (8): patch F32 → Q5_K (13).
    const typeAt = 24 + 8 + 1 + 4 + 8;
    new DataView(q5.buffer).setUint32(typeAt, 13, true);
    await expect(readGguf(memorySource(q5))).rejects.toThrow(/type Q5_K, which is not supported/);
    const huge = concatParts(writeGguf([], [{ name: 'w', type: 'F32', shape: [1], data: new Uint8Array(4) }]));
    new DataView(huge.buffer).setBigUint64(24 + 8 + 1 + 4, 2n ** 40n, true);
    await expect(readGguf(memorySource(huge))).rejects.toThrow(/past the end of the file/);
  });
});
