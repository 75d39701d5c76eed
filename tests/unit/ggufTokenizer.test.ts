// Tokenizers embedded in GGUF metadata. SentencePiece ('llama'): the real stories260K.gguf vocabulary gives
// the same ids as llama2.c's tok512.bin (and so llama.cpp) and decodes back, byte fallback included.
// Byte-level BPE ('gpt2'): a small synthetic vocabulary written into a GGUF with ggufWriter, where the ids
// each pre-tokenizer and merge order must give can be worked out by hand.

import { afterAll, describe, expect, it } from 'vitest';
import { type ByteSource, fileSource, memorySource } from '../../src/io/byteSource';
import { readGguf } from '../../src/io/gguf';
import { type GgufTokenizer, tokenizerFromGguf } from '../../src/io/ggufTokenizer';
import { type GgufEntry, concatParts, writeGguf } from '../../src/io/ggufWriter';
import { readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import { freshSeed, rng } from '../helpers/random';
import { sharedPath } from '../helpers/shared';

const sources: ByteSource[] = [];
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close?.()));
});
const open = async (name: string) => {
  const s = await fileSource(sharedPath(`models/stories260K/${name}`));
  sources.push(s);
  return s;
};

/** A tokenizer from metadata entries, through a real GGUF file in memory. */
async function fromEntries(entries: GgufEntry[]): Promise<GgufTokenizer | null> {
  const gguf = await readGguf(memorySource(concatParts(writeGguf(entries, []))));
  return tokenizerFromGguf(gguf.metadata);
}

describe('GGUF SentencePiece vocabulary (stories260K.gguf)', () => {
  let spm: GgufTokenizer;
  let llama2c: ScoredBpeTokenizer;

  it('encodes "Once upon a time" as llama2.c / llama.cpp do, and decodes it back', async () => {
    const gguf = await readGguf(await open('stories260K.gguf'));
    spm = tokenizerFromGguf(gguf.metadata)!;
    llama2c = new ScoredBpeTokenizer(await readLlama2cTokenizer(await open('tok512.bin'), 512));
    expect(spm.vocabSize).toBe(512);
    expect([spm.bosId, spm.eosId]).toEqual([1, 2]);
    const ids = spm.encode('Once upon a time');
    expect(ids).toEqual([1, 403, 407, 261, 378]);
    expect(spm.decode(ids)).toBe('Once upon a time');
    expect(spm.encode('Once upon a time', { bos: false })).toEqual([403, 407, 261, 378]);
  });

  it('agrees with the llama2.c tokenizer on assorted ASCII text', () => {
    for (const text of ['Lily and Ben went to the park.', '  two  spaces, then\nnew lines\n\n', 'x', "It's 42!", '']) {
      expect(spm.encode(text)).toEqual(llama2c.encode(text));
      expect(spm.decode(spm.encode(text))).toBe(text);
    }
  });

  it('falls back to byte tokens for characters outside the vocabulary and decodes them as UTF-8', () => {
    const text = 'héllo wörld 🙂';
    const ids = spm.encode(text);
    expect(ids).toEqual(llama2c.encode(text));
    expect(ids).toContain(3 + 0xc3); // <0xC3>, the first byte of é and ö
    expect(spm.decode(ids)).toBe(text);
  });

  it('reads control tokens in the text only when asked to', () => {
    expect(spm.encode('<s>hi', { bos: false, special: true })[0]).toBe(1);
    expect(spm.encode('<s>hi', { bos: false })[0]).not.toBe(1);
  });
});

// A byte-level BPE vocabulary: the 256 byte characters, then merge results, then special tokens.
const BYTE_CHARS = (() => {
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    out.push(String.fromCharCode(printable ? b : 256 + shifted++));
  }
  return out;
})();
const MERGES = ['h e', 'l l', 'he ll', 'hell o', 'Ġ w', 'o r', 'l d', 'Ġw or', 'Ġwor ld', '1 2', '12 3', '3 4'];
const SPECIALS = [
  ['<|endoftext|>', 3],
  ['<|im_start|>', 3],
  ['<tool>', 4],
] as const;
const TOKENS = [...BYTE_CHARS, ...MERGES.map((m) => m.replace(' ', '')), ...SPECIALS.map(([t]) => t)];
const TYPES = [...TOKENS.map(() => 1).slice(0, -SPECIALS.length), ...SPECIALS.map(([, t]) => t)];
const id = (t: string) => TOKENS.indexOf(t);

function bpeEntries(extra: GgufEntry[] = [], pre = 'gpt2'): GgufEntry[] {
  return [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: 'string', value: pre },
    { key: 'tokenizer.ggml.tokens', type: 'array', itemType: 'string', value: TOKENS },
    { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: TYPES },
    { key: 'tokenizer.ggml.merges', type: 'array', itemType: 'string', value: MERGES },
    { key: 'tokenizer.ggml.bos_token_id', type: 'u32', value: id('<|endoftext|>') },
    { key: 'tokenizer.ggml.eos_token_id', type: 'u32', value: id('<|endoftext|>') },
    ...extra,
  ];
}

describe('GGUF byte-level BPE vocabulary (synthetic)', () => {
  it('merges by rank within pre-tokenized words; no BOS unless the file asks for it', async () => {
    const tok = (await fromEntries(bpeEntries()))!;
    expect(tok.encode('hello world')).toEqual([id('hello'), id('Ġworld')]);
    // "l l" merges the leftmost pair first
    expect(tok.encode('lll')).toEqual([id('ll'), id('l')]);
    // " w" followed by "hello": the GPT-2 regex keeps the space with the letters
    expect(tok.encode('hello hello')).toEqual([id('hello'), id('Ġ'), id('hello')]);
    const withBos = (await fromEntries(
      bpeEntries([{ key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: true }]),
    ))!;
    expect(withBos.encode('hello')).toEqual([id('<|endoftext|>'), id('hello')]);
  });

  it('pre-tokenizers differ as llama.cpp defines them (digits: SmolLM one by one, Llama 3 in threes)', async () => {
    const text = 'a 1234';
    const smollm = (await fromEntries(bpeEntries([], 'smollm')))!;
    const llama3 = (await fromEntries(bpeEntries([], 'llama-bpe')))!;
    const gpt2 = (await fromEntries(bpeEntries([], 'gpt2')))!;
    expect(smollm.encode(text)).toEqual(['a', 'Ġ', '1', '2', '3', '4'].map(id));
    expect(llama3.encode(text)).toEqual(['a', 'Ġ', '123', '4'].map(id));
    expect(gpt2.encode(text)).toEqual(['a', 'Ġ', '123', '4'].map(id));
    expect(gpt2.encode('a 34')).toEqual(['a', 'Ġ', '34'].map(id));
    expect(llama3.encode('a 34')).toEqual(['a', 'Ġ', '34'].map(id));
  });

  it('special tokens in the text: user-defined always, control only when asked', async () => {
    const tok = (await fromEntries(bpeEntries()))!;
    const special = tok.encode('<|im_start|>hello<tool>', { special: true });
    expect(special).toEqual([id('<|im_start|>'), id('hello'), id('<tool>')]);
    const plain = tok.encode('<|im_start|>hello<tool>');
    expect(plain).not.toContain(id('<|im_start|>'));
    expect(plain.slice(-1)).toEqual([id('<tool>')]);
    expect(tok.decode(special)).toBe('hello<tool>'); // control tokens are not text
  });

  it('decodes any text back exactly (byte-level BPE is lossless)', async () => {
    const tok = (await fromEntries(bpeEntries([], 'smollm')))!;
    const seed = freshSeed();
    const random = rng(seed);
    const alphabet = [..."hello world 1234 \n\t  éß中文🙂's!?"];
    for (let n = 0; n < 20; n++) {
      const text = Array.from(
        { length: 1 + Math.floor(random() * 30) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
      expect(tok.decode(tok.encode(text)), `seed ${seed}: ${JSON.stringify(text)}`).toBe(text);
    }
  });

  it('refuses what it cannot tokenize, naming it', async () => {
    await expect(fromEntries(bpeEntries([], 'tekken'))).rejects.toThrow(/pre-tokenizer "tekken" is not supported/);
    await expect(fromEntries([{ key: 'tokenizer.ggml.model', type: 'string', value: 'bert' }])).rejects.toThrow(
      /"bert" is not supported/,
    );
    await expect(fromEntries(bpeEntries().filter((e) => e.key !== 'tokenizer.ggml.merges'))).rejects.toThrow(
      /needs tokenizer.ggml.merges/,
    );
    expect(await fromEntries([])).toBeNull();
  });
});
