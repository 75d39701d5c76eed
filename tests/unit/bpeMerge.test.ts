// The O(n log n) merge loop (src/io/bpeMerge.ts) against the quadratic loop it replaced, kept here as the
// reference: llama2.c run.c's encode exactly as ScoredBpeTokenizer had it (rescan every pair after each merge,
// first best pair wins), and the same rescanning loop for the GGUF SentencePiece tokenizer and for the merge
// helper itself. Inputs: seeded random strings (ASCII, spaces, punctuation, digits, multi-byte UTF-8, byte
// fallback, lone surrogates), a synthetic vocabulary full of equal scores (tie-breaking), GSM8K's real texts,
// and long inputs, which must now take milliseconds.

import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Merge, mergeSymbols } from '../../src/io/bpeMerge';
import { type ByteSource, fileSource } from '../../src/io/byteSource';
import { readGguf } from '../../src/io/gguf';
import { type GgufTokenizer, tokenizerFromGguf } from '../../src/io/ggufTokenizer';
import { type Llama2cTokenizer, readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import { freshSeed, rng } from '../helpers/random';
import { sharedPath } from '../helpers/shared';

/** ScoredBpeTokenizer.encode before bpeMerge.ts: a faithful port of llama2.c run.c, O(n²). */
function referenceLlama2c(vocab: Llama2cTokenizer): (text: string, bos?: boolean) => number[] {
  const ids = new Map<string, number>();
  vocab.pieces.forEach((p, i) => {
    if (!ids.has(p)) ids.set(p, i);
  });
  return (text, bos = true) => {
    const tokens: number[] = [];
    if (bos) tokens.push(1);
    if (text !== '') {
      const dummy = ids.get(' ');
      if (dummy !== undefined) tokens.push(dummy);
    }
    for (const ch of text) {
      const id = ids.get(ch);
      if (id !== undefined) tokens.push(id);
      else for (const b of new TextEncoder().encode(ch)) tokens.push(b + 3);
    }
    for (;;) {
      let best = -1e10;
      let bestId = -1;
      let bestIdx = -1;
      for (let i = bos ? 1 : 0; i < tokens.length - 1; i++) {
        const id = ids.get(vocab.pieces[tokens[i]] + vocab.pieces[tokens[i + 1]]);
        if (id !== undefined && vocab.scores[id] > best) {
          best = vocab.scores[id];
          bestId = id;
          bestIdx = i;
        }
      }
      if (bestIdx < 0) break;
      tokens.splice(bestIdx, 2, bestId);
    }
    return tokens;
  };
}

/** The rescanning loop for any merge rule: the lowest priority, first among equals, until none merges. */
function referenceMerge<T>(symbols: T[], merge: (l: T, r: T) => Merge<T> | null): T[] {
  const sym = [...symbols];
  for (;;) {
    let bestIdx = -1;
    let best: Merge<T> | null = null;
    for (let i = 0; i + 1 < sym.length; i++) {
      const m = merge(sym[i], sym[i + 1]);
      if (m && (best === null || m.priority < best.priority)) [best, bestIdx] = [m, i];
    }
    if (!best) return sym;
    sym.splice(bestIdx, 2, best.symbol);
  }
}

/** The GGUF SentencePiece ('llama') encode of plain text with BOS, through the rescanning loop. */
function referenceSpm(tokens: string[], scores: ArrayLike<number>): (text: string) => number[] {
  const ids = new Map(tokens.map((t, i) => [t, i] as const)); // the last of duplicates wins
  return (text) => {
    if (text === '') return [1];
    const symbols = referenceMerge([...` ${text}`.replaceAll(' ', '▁')], (l, r) => {
      const id = ids.get(l + r);
      return id === undefined ? null : { symbol: l + r, priority: -scores[id] };
    });
    const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    return [1, ...symbols.flatMap((s) => ids.get(s) ?? [...new TextEncoder().encode(s)].map((b) => ids.get(hex(b))!))];
  };
}

const POOLS = {
  letters: [...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'],
  digits: [...'0123456789'],
  spaces: [' ', ' ', '  ', '\n', '\t', '\n\n'],
  punctuation: [...'.,;:!?\'"()[]{}<>$%#@&*+-=/\\_|~^`'],
  multibyte: [...'éèüößçñДЖ€£¥中文字▁🙂👍🏽'], // 2-, 3- and 4-byte UTF-8; mostly outside tok512 (byte fallback)
  loneSurrogates: ['\ud800', '\udfff'],
};

/** A random string of up to `maxParts` parts: vocabulary pieces (so merges happen) mixed with the pools. */
function randomText(random: () => number, pieces: string[], maxParts: number): string {
  const pick = <T>(a: T[]) => a[Math.floor(random() * a.length)];
  let out = '';
  for (let n = Math.floor(random() * (maxParts + 1)); n > 0; n--) {
    const u = random();
    if (u < 0.4) out += pick(pieces);
    else if (u < 0.6) out += pick(POOLS.letters);
    else if (u < 0.7) out += pick(POOLS.digits);
    else if (u < 0.8) out += pick(POOLS.spaces);
    else if (u < 0.9) out += pick(POOLS.punctuation);
    else if (u < 0.99) out += pick(POOLS.multibyte);
    else out += pick(POOLS.loneSurrogates);
  }
  return out;
}

const gsm8k = readFileSync(sharedPath('data/gsm8k/train.jsonl'), 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .slice(0, 500)
  .map((l) => JSON.parse(l) as { question: string; answer: string });

const sources: ByteSource[] = [];
afterAll(async () => {
  await Promise.all(sources.map((s) => s.close?.()));
});
const open = async (name: string) => {
  const s = await fileSource(sharedPath(`models/stories260K/${name}`));
  sources.push(s);
  return s;
};

describe('bpe merge loop: same tokens as the quadratic loop, in O(n log n)', () => {
  const seed = freshSeed();
  let vocab: Llama2cTokenizer;
  let llama2c: ScoredBpeTokenizer;
  let llama2cRef: (text: string, bos?: boolean) => number[];
  let spm: GgufTokenizer;
  let spmRef: (text: string) => number[];
  beforeAll(async () => {
    vocab = await readLlama2cTokenizer(await open('tok512.bin'), 512);
    llama2c = new ScoredBpeTokenizer(vocab);
    llama2cRef = referenceLlama2c(vocab);
    const meta = (await readGguf(await open('stories260K.gguf'))).metadata;
    spm = tokenizerFromGguf(meta)!;
    spmRef = referenceSpm(
      meta.get('tokenizer.ggml.tokens') as string[],
      meta.get('tokenizer.ggml.scores') as ArrayLike<number>,
    );
  });

  it(`llama2.c tok512.bin and GGUF SentencePiece on 3000 random strings (seed ${seed})`, () => {
    const random = rng(seed);
    const pieces = vocab.pieces.slice(259);
    for (let n = 0; n < 3000; n++) {
      const text = randomText(random, pieces, n < 2500 ? 12 : 60);
      const bos = n % 3 !== 0;
      expect(llama2c.encode(text, { bos }), `seed ${seed}: ${JSON.stringify(text)}`).toEqual(llama2cRef(text, bos));
      expect(spm.encode(text), `seed ${seed}: ${JSON.stringify(text)}`).toEqual(spmRef(text));
    }
  });

  it('llama2.c tok512.bin and GGUF SentencePiece on GSM8K (first 500 train lines)', () => {
    for (const { question, answer } of gsm8k) {
      const text = `${question}\n${answer}`;
      const expected = llama2cRef(text);
      expect(llama2c.encode(text), text).toEqual(expected);
      expect(spmRef(text), text).toEqual(expected); // the two vocabularies agree on this text
      expect(spm.encode(text), text).toEqual(expected);
    }
  });

  it('long inputs: identical on 4000 characters, and 20 000 characters encoded', () => {
    const prose = gsm8k.map((r) => `${r.question}\n${r.answer}`).join('\n\n');
    for (const text of [prose.slice(0, 4000), 'a'.repeat(3000), ' '.repeat(2000), '🙂'.repeat(1000)]) {
      expect(llama2c.encode(text)).toEqual(llama2cRef(text));
      expect(spm.encode(text)).toEqual(spmRef(text));
    }
    const random = rng(seed);
    let mixed = '';
    while (mixed.length < 20000) mixed += randomText(random, vocab.pieces.slice(259), 60);
    for (const text of [prose.slice(0, 20000), mixed.slice(0, 20000), 'ab'.repeat(10000)]) {
      for (const tok of [llama2c, spm]) expect(tok.encode(text).length).toBeGreaterThan(1);
    }
    // No elapsed-time assertion (it flakes on a loaded machine): these 6 encodes take well under a second in all,
    // and the test's generous timeout bounds them; `npm run bench -- parsing` measures the time.
  }, 30_000);

  it(`ties: a synthetic llama2.c vocabulary where many different pairs share a score (seed ${seed})`, () => {
    const random = rng(seed ^ 0x9e3779b9);
    const hex = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
    const pieces = [
      '<unk>',
      '\n<s>\n',
      '\n</s>\n',
      ...Array.from({ length: 256 }, (_, b) => hex(b)),
      ' ',
      'a',
      'b',
      'c',
      'd',
    ];
    const scores = pieces.map(() => 0);
    // Merges of earlier pieces (byte pieces now and then), scores from a small set so that ties are the rule;
    // some at or below run.c's -1e10 floor (never merged), one NaN, and duplicates (the first one counts).
    const SCORES = [-1, -1, -2, -2, -3, 0, -1e10, -2e10, Number.NaN];
    const pool = () =>
      random() < 0.05 ? hex(Math.floor(random() * 256)) : pieces[259 + Math.floor(random() * (pieces.length - 259))];
    while (pieces.length < 400) {
      const piece = pool() + pool();
      if (piece.length > 8) continue;
      pieces.push(piece);
      scores.push(SCORES[Math.floor(random() * SCORES.length)]);
    }
    const tiny: Llama2cTokenizer = { maxTokenLength: 8, pieces, scores: Float32Array.from(scores) };
    const tok = new ScoredBpeTokenizer(tiny);
    const ref = referenceLlama2c(tiny);
    const alphabet = [...'abcd abcd  aaaa bbbb éx\n'];
    for (let n = 0; n < 2000; n++) {
      const text = Array.from(
        { length: Math.floor(random() * 40) },
        () => alphabet[Math.floor(random() * alphabet.length)],
      ).join('');
      const bos = n % 2 === 0;
      expect(tok.encode(text, { bos }), `seed ${seed}: ${JSON.stringify(text)}`).toEqual(ref(text, bos));
    }
  });

  it(`mergeSymbols itself, with priorities full of ties and refusals (seed ${seed})`, () => {
    const random = rng(seed ^ 0x85ebca6b);
    for (let n = 0; n < 2000; n++) {
      const salt = Math.floor(random() * 1000);
      // Any deterministic rule of the pair works: here a hash of the two symbols picks a priority or null.
      const merge = (l: string, r: string): Merge<string> | null => {
        let h = salt;
        for (const c of `${l}|${r}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
        return (l + r).length > 6 || h % 5 === 0 ? null : { symbol: l + r, priority: h % 3 };
      };
      const symbols = Array.from({ length: Math.floor(random() * 30) }, () => 'abc'[Math.floor(random() * 3)]);
      expect(mergeSymbols(symbols, merge), `seed ${seed}: ${symbols.join('')} salt ${salt}`).toEqual(
        referenceMerge(symbols, merge),
      );
    }
    expect(mergeSymbols([], () => ({ symbol: 'x', priority: 0 }))).toEqual([]);
    expect(mergeSymbols(['a'], () => ({ symbol: 'x', priority: 0 }))).toEqual(['a']);
  });
});
