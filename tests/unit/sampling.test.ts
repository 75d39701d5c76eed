// Next-token choice on small synthetic logits, where the right distribution can be written down by hand:
// greedy is the argmax, temperature → 0 tends to it, top-k and top-p keep the sets their definitions say,
// a seeded sampler repeats itself and its draws follow the distribution.

import { describe, expect, it } from 'vitest';
import { Sampler, argmax, samplingDistribution } from '../../src/model/sampling';

const softmax = (x: number[], t = 1) => {
  const m = Math.max(...x);
  const e = x.map((v) => Math.exp((v - m) / t));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('sampling', () => {
  const logits = [1.0, 3.0, -2.0, 2.5, 3.0, 0.0];

  it('greedy is the argmax, lowest index among ties, NaN never chosen', () => {
    expect(argmax(logits)).toBe(1);
    expect(argmax([NaN, -1, NaN, 4])).toBe(3);
    expect(new Sampler({ greedy: true }).sample(logits)).toBe(1);
    expect(() => argmax([NaN, NaN])).toThrow(/NaN/);
  });

  it('temperature 1 is the softmax, sorted; temperature → 0 concentrates on the argmax', () => {
    const { ids, probs } = samplingDistribution(logits, { temperature: 1 });
    expect(ids).toEqual([1, 4, 3, 0, 5, 2]);
    const want = softmax(logits);
    ids.forEach((id, i) => expect(probs[i]).toBeCloseTo(want[id], 12));
    const cold = samplingDistribution([0.5, 2.0, 1.9], { temperature: 1e-3 });
    expect(cold.ids[0]).toBe(1);
    expect(cold.probs[0]).toBeGreaterThan(1 - 1e-12);
    expect(samplingDistribution(logits, { temperature: 0 })).toEqual({ ids: [1], probs: [1] });
    const sampler = new Sampler({ temperature: 0, seed: 3 });
    for (let i = 0; i < 5; i++) expect(sampler.sample(logits)).toBe(1);
  });

  it('top-k keeps the k largest, renormalised', () => {
    const { ids, probs } = samplingDistribution(logits, { topK: 3 });
    expect(ids).toEqual([1, 4, 3]);
    const want = softmax([3.0, 3.0, 2.5]);
    probs.forEach((p, i) => expect(p).toBeCloseTo(want[i], 12));
  });

  it('top-p keeps the smallest most-likely set whose probability reaches p', () => {
    // probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 (logits are their logs)
    const l = [0.5, 0.25, 0.125, 0.0625, 0.0625].map(Math.log);
    expect(samplingDistribution(l, { topP: 0.5 }).ids).toEqual([0]);
    expect(samplingDistribution(l, { topP: 0.51 }).ids).toEqual([0, 1]);
    expect(samplingDistribution(l, { topP: 0.75 }).ids).toEqual([0, 1]);
    const third = samplingDistribution(l, { topP: 0.8 });
    expect(third.ids).toEqual([0, 1, 2]);
    third.probs.forEach((p, i) => expect(p).toBeCloseTo([4 / 7, 2 / 7, 1 / 7][i], 12));
    expect(samplingDistribution(l, { topP: 1 }).ids).toHaveLength(5);
    // applied after temperature: at T = 2 the top two hold ≈ 0.59, not 0.75
    expect(samplingDistribution(l, { topP: 0.7, temperature: 2 }).ids).toEqual([0, 1, 2]);
  });

  it('a seed repeats its draws; draws follow the distribution', () => {
    const a = new Sampler({ seed: 42 });
    const b = new Sampler({ seed: 42 });
    const c = new Sampler({ seed: 43 });
    const da = Array.from({ length: 50 }, () => a.sample(logits));
    expect(Array.from({ length: 50 }, () => b.sample(logits))).toEqual(da);
    expect(Array.from({ length: 50 }, () => c.sample(logits))).not.toEqual(da);
    // 20000 draws: each frequency within 5 standard deviations of its probability.
    const s = new Sampler({ seed: 7, topK: 4 });
    const n = 20000;
    const counts = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const id = s.sample(logits);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const { ids, probs } = samplingDistribution(logits, { topK: 4 });
    expect([...counts.keys()].sort()).toEqual([...ids].sort());
    ids.forEach((id, i) => {
      const sd = Math.sqrt((probs[i] * (1 - probs[i])) / n);
      expect(Math.abs((counts.get(id) ?? 0) / n - probs[i])).toBeLessThan(5 * sd);
    });
  });

  it('rejects nonsense settings', () => {
    expect(() => new Sampler({ temperature: -1 })).toThrow(/temperature/);
    expect(() => new Sampler({ topP: 0 })).toThrow(/top-p/);
    expect(() => new Sampler({ topP: 1.5 })).toThrow(/top-p/);
    expect(() => new Sampler({ topK: 2.5 })).toThrow(/top-k/);
  });
});
