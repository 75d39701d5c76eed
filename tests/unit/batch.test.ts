// From examples to the training batch: tokenization (prompt/completion boundary, BOS/EOS), truncation
// (prompt from the left first), packing with shifted completion-only targets, and tokens/s accounting.

import { describe, expect, it } from 'vitest';
import type { Tokenizer } from '../../src/io/tokenizer';
import { BatchError, ThroughputMeter, packBatch, packGroups } from '../../src/train/batch';
import { tokenizeExample, truncateExample } from '../../src/data/tasks';

/**
 * A SentencePiece-like word tokenizer: a dummy-prefix space, then one token per space-led piece, so a
 * completion encoded on its own gets a spurious lone-space token (as real SentencePiece does).
 */
function wordTokenizer(bosId: number | null = 1, eosId: number | null = 2): Tokenizer & { id(piece: string): number } {
  const ids = new Map<string, number>();
  const pieces: string[] = [];
  const id = (p: string) => {
    if (!ids.has(p)) {
      ids.set(p, 10 + pieces.length);
      pieces.push(p);
    }
    return ids.get(p)!;
  };
  return {
    vocabSize: 1000,
    bosId,
    eosId,
    id,
    encode: (text, opts) => [
      ...((opts?.bos ?? true) && bosId !== null ? [bosId] : []),
      ...` ${text}`.split(/(?= )/).map(id),
    ],
    decode: (toks) =>
      toks
        .filter((t) => t >= 10)
        .map((t) => pieces[t - 10])
        .join(''),
  };
}

describe('tokenizeExample', () => {
  it('takes the completion from the joint encoding, with BOS first and EOS last', () => {
    const tok = wordTokenizer();
    const ex = tokenizeExample(tok, { prompt: 'Q: two plus two =', completion: ' four' }, { maxLength: 64 });
    expect(ex.prompt).toEqual([1, tok.id(' Q:'), tok.id(' two'), tok.id(' plus'), tok.id(' two'), tok.id(' =')]);
    expect(ex.completion).toEqual([tok.id(' four'), 2]);
  });

  it('encodes the completion alone when the joint encoding does not start with the prompt', () => {
    const tok = wordTokenizer();
    const ex = tokenizeExample(tok, { prompt: 'capital: Par', completion: 'is' }, { maxLength: 64 });
    expect(ex.completion).toEqual([tok.id(' is'), 2]);
  });

  it('leaves out BOS and EOS when asked or when the tokenizer has none', () => {
    const tok = wordTokenizer();
    expect(tokenizeExample(tok, { prompt: 'a', completion: ' b' }, { maxLength: 64, bos: false, eos: false })).toEqual({
      prompt: [tok.id(' a')],
      completion: [tok.id(' b')],
    });
    const bare = wordTokenizer(null, null);
    expect(tokenizeExample(bare, { prompt: 'a', completion: ' b' }, { maxLength: 64 })).toEqual({
      prompt: [bare.id(' a')],
      completion: [bare.id(' b')],
    });
  });

  it('truncates the prompt from the left first, keeping BOS, then the completion from the right', () => {
    const ex = { prompt: [1, 10, 11, 12, 13], completion: [20, 21, 2] };
    expect(truncateExample(ex, 8, 1)).toBe(ex);
    expect(truncateExample(ex, 6, 1)).toEqual({ prompt: [1, 12, 13], completion: [20, 21, 2] });
    expect(truncateExample(ex, 3, 1)).toEqual({ prompt: [1], completion: [20, 21] });
    expect(truncateExample(ex, 5, null)).toEqual({ prompt: [12, 13], completion: [20, 21, 2] });
    expect(() => truncateExample(ex, 1, 1)).toThrow(RangeError);
    const tok = wordTokenizer();
    const long = tokenizeExample(tok, { prompt: 'a b c d e', completion: ' f' }, { maxLength: 4 });
    expect(long).toEqual({ prompt: [1, tok.id(' e')], completion: [tok.id(' f'), 2] });
  });
});

describe('packBatch', () => {
  it('pads to the longest example and scores only next tokens that belong to the completion', () => {
    const b = packBatch([
      { prompt: [1, 5, 6], completion: [7, 8, 2] },
      { prompt: [1, 9], completion: [3] },
    ]);
    expect([b.B, b.S]).toEqual([2, 6]);
    expect([...b.tokens]).toEqual([1, 5, 6, 7, 8, 2, 1, 9, 3, 0, 0, 0]);
    expect([...b.targets]).toEqual([-1, -1, 7, 8, 2, -1, -1, 3, -1, -1, -1, -1]);
    expect([...b.lengths]).toEqual([6, 3]);
    expect(b.scored).toBe(4);
    expect(b.tokenCount).toBe(9);
  });

  it('cannot score the first completion token of an empty prompt', () => {
    const b = packBatch([{ prompt: [], completion: [4, 5, 6] }]);
    expect([...b.targets]).toEqual([5, 6, -1]);
    expect(b.scored).toBe(2);
  });

  it('packs to a fixed length with a chosen pad id, and refuses what does not fit', () => {
    const b = packBatch([{ prompt: [1], completion: [4] }], { S: 4, padId: 7 });
    expect([...b.tokens]).toEqual([1, 4, 7, 7]);
    expect([...b.targets]).toEqual([4, -1, -1, -1]);
    expect(() => packBatch([{ prompt: [1, 2, 3], completion: [4, 5] }], { S: 4 })).toThrow(BatchError);
    expect(() => packBatch([])).toThrow(BatchError);
  });
});

describe('ThroughputMeter', () => {
  it('reports tokens per second over a sliding window of steps', () => {
    let now = 0;
    const meter = new ThroughputMeter(2, () => now);
    meter.start();
    now = 1000;
    expect(meter.stop(500)).toBe(500);
    meter.start();
    now = 1500;
    expect(meter.stop(500)).toBeCloseTo(1000 / 1.5, 9);
    meter.start();
    now = 2000;
    // The first step has left the window: 1000 tokens in 1 s.
    expect(meter.stop(500)).toBe(1000);
  });
});

describe("packGroups (MeTA-LoRA's K tasks as one batch)", () => {
  const ex = (p: number, c: number) => ({
    prompt: Array.from({ length: p }, (_, i) => 3 + i),
    completion: Array.from({ length: c }, (_, i) => 9 + i),
  });
  it("puts each task's sequences together, padded to the longest of all, and keeps each task's own length", () => {
    const g = packGroups([
      { task: 2, examples: [ex(1, 1), ex(2, 1)] },
      { task: 0, examples: [ex(3, 4), ex(1, 2)] },
    ]);
    expect(g.tasks).toEqual([2, 0]);
    expect(g.seqLens).toEqual([3, 7]);
    expect(g.batch.S).toBe(7);
    expect(Array.from(g.batch.lengths)).toEqual([2, 3, 7, 3]);
    // Task 2's second sequence starts at row 7 and is scored exactly as when packed alone.
    const alone = packBatch([ex(1, 1), ex(2, 1)]);
    expect(Array.from(g.batch.targets.subarray(7, 7 + alone.S))).toEqual(
      Array.from(alone.targets.subarray(alone.S, 2 * alone.S)),
    );
    expect(g.batch.scored).toBe(alone.scored + packBatch([ex(3, 4), ex(1, 2)]).scored);
  });
  it('refuses groups of unequal size', () => {
    expect(() =>
      packGroups([
        { task: 0, examples: [ex(1, 1)] },
        { task: 1, examples: [ex(1, 1), ex(1, 1)] },
      ]),
    ).toThrow(/equal.*task 1 has 2/);
    expect(() => packGroups([])).toThrow(BatchError);
  });
});
