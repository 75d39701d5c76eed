// Answer metrics on continuations whose right and wrong answers are known in advance.

import { describe, expect, it } from 'vitest';
import { DEFAULT_ANSWER, cutAnswer, normalizeAnswer, scoreAnswer } from '../../src/train/answers';

const opts = (o: Partial<typeof DEFAULT_ANSWER>) => ({ ...DEFAULT_ANSWER, ...o });

describe('answer metrics', () => {
  it('a continuation that is exactly the answer scores on all three metrics', () => {
    expect(scoreAnswer(' blue.', ' blue.')).toEqual({ exactMatch: true, startsWith: true, answer: true });
  });

  it('the right answer followed by more text: answer and starts-with, not exact match (stories260K cannot stop)', () => {
    expect(scoreAnswer(' Sue.\u00e9 The end', ' Sue.')).toEqual({ exactMatch: false, startsWith: true, answer: true });
    expect(scoreAnswer(' blue. The box was big', ' blue.')).toEqual({
      exactMatch: false,
      startsWith: true,
      answer: true,
    });
  });

  it('a wrong answer scores 0 on every metric', () => {
    expect(scoreAnswer(' red.', ' blue.')).toEqual({ exactMatch: false, startsWith: false, answer: false });
    expect(scoreAnswer('', ' blue.')).toEqual({ exactMatch: false, startsWith: false, answer: false });
  });

  it('the answer must end where the reference ends: "12" does not answer "1", "bluer" does not answer "blue"', () => {
    expect(scoreAnswer(' 12', ' 1').answer).toBe(false);
    expect(scoreAnswer(' 1, then 2', ' 1').answer).toBe(true);
    expect(scoreAnswer(' bluer', ' blue').answer).toBe(false);
  });

  it('normalisation forgives case, punctuation and spacing; without it they count', () => {
    expect(scoreAnswer('  Blue!', ' blue.').answer).toBe(true);
    expect(scoreAnswer('  Blue!', ' blue.', opts({ normalize: false })).answer).toBe(false);
    expect(scoreAnswer('  Blue!', ' blue.').exactMatch).toBe(false);
    expect(normalizeAnswer('  The  Cat, sat!  ')).toBe('the cat sat');
  });

  it('newline and eos stops compare the whole (first line of the) answer', () => {
    expect(scoreAnswer(' Paris\nQuestion: next', ' Paris', opts({ stop: 'newline' })).answer).toBe(true);
    expect(scoreAnswer(' Paris is nice\n', ' Paris', opts({ stop: 'newline' })).answer).toBe(false);
    expect(scoreAnswer(' Paris', ' Paris', opts({ stop: 'eos' })).answer).toBe(true);
    expect(scoreAnswer(' Paris.', ' Paris', opts({ stop: 'eos' })).answer).toBe(true);
    expect(scoreAnswer(' Paris, France', ' Paris', opts({ stop: 'eos' })).answer).toBe(false);
  });

  it('stop strings end the answer', () => {
    const o = opts({ stop: 'eos', stopStrings: ['###'] });
    expect(cutAnswer('  42### more', o)).toBe('42');
    expect(scoreAnswer(' 42### more', ' 42', o).answer).toBe(true);
    expect(scoreAnswer(' 42 more', ' 42', o).answer).toBe(false);
  });
});
