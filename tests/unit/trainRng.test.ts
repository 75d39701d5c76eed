// The training RNG: xoshiro128** against its reference outputs, determinism, independent derived streams,
// exact resume from a saved state, and unbiased integer, shuffle and sampling helpers.

import { describe, expect, it } from 'vitest';
import { Rng, RngStateError } from '../../src/util/rng';

const draws = (r: Rng, n: number) => Array.from({ length: n }, () => r.nextU32());

describe('Rng', () => {
  it('matches xoshiro128** from the state {1, 2, 3, 4}', () => {
    // First outputs of the reference C implementation (prng.di.unimi.it) from this state.
    expect(draws(Rng.fromState([1, 2, 3, 4]), 3)).toEqual([11520, 0, 5927040]);
  });

  it('gives the same sequence for the same seed and different ones for different seeds', () => {
    expect(draws(Rng.fromSeed(42), 20)).toEqual(draws(Rng.fromSeed(42), 20));
    expect(draws(Rng.fromSeed(42), 20)).not.toEqual(draws(Rng.fromSeed(43), 20));
    expect(draws(Rng.fromSeed(2 ** 40), 20)).not.toEqual(draws(Rng.fromSeed(0), 20));
  });

  it('derives independent streams by label without advancing the parent', () => {
    const root = Rng.fromSeed(7);
    const before = root.getState();
    const a = draws(root.derive('episodes'), 10);
    expect(root.getState()).toEqual(before);
    expect(draws(Rng.fromSeed(7).derive('episodes'), 10)).toEqual(a);
    expect(draws(root.derive('dropout'), 10)).not.toEqual(a);
    expect(draws(root, 10)).not.toEqual(a);
  });

  it('resumes exactly from a saved state (also after a JSON round trip)', () => {
    const r = Rng.fromSeed(3);
    draws(r, 17);
    const saved = JSON.parse(JSON.stringify(r.getState()));
    const rest = draws(r, 50);
    expect(draws(Rng.fromState(saved), 50)).toEqual(rest);
  });

  it('refuses malformed states', () => {
    expect(() => Rng.fromState([0, 0, 0, 0])).toThrow(RngStateError);
    expect(() => Rng.fromState([1, 2, 3])).toThrow(RngStateError);
    expect(() => Rng.fromState([1, 2, 3, 2 ** 32])).toThrow(RngStateError);
    expect(() => Rng.fromSeed(0.5)).toThrow(RngStateError);
  });

  it('draws floats in [0, 1) and unbiased integers', () => {
    const r = Rng.fromSeed(11);
    for (let i = 0; i < 1000; i++) {
      const x = r.next();
      expect(x >= 0 && x < 1).toBe(true);
    }
    // χ² over 6 buckets, 6000 draws: 5 degrees of freedom, 20.5 is the 0.999 quantile.
    const counts = new Array(6).fill(0);
    for (let i = 0; i < 6000; i++) counts[r.int(6)]++;
    const chi2 = counts.reduce((a, c) => a + (c - 1000) ** 2 / 1000, 0);
    expect(chi2).toBeLessThan(20.5);
    expect(() => r.int(0)).toThrow(RangeError);
    expect(() => r.int(2.5)).toThrow(RangeError);
  });

  it('shuffles into a permutation and samples distinct indices', () => {
    const r = Rng.fromSeed(5);
    const items = Array.from({ length: 30 }, (_, i) => i);
    const shuffled = r.shuffle([...items]);
    expect(shuffled).not.toEqual(items);
    expect([...shuffled].sort((a, b) => a - b)).toEqual(items);
    const s = r.sample(10, 7);
    expect(new Set(s).size).toBe(7);
    expect(s.every((i) => Number.isInteger(i) && i >= 0 && i < 10)).toBe(true);
    expect([...r.sample(5, 5)].sort()).toEqual([0, 1, 2, 3, 4]);
    expect(r.sample(5, 0)).toEqual([]);
    expect(() => r.sample(3, 4)).toThrow(RangeError);
  });
});
