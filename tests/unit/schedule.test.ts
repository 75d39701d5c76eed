// Learning-rate schedules: linear warm-up, cosine decay to the floor, constant.

import { describe, expect, it } from 'vitest';
import { type LrSchedule, learningRate } from '../../src/train/schedule';

const cosine: LrSchedule = { kind: 'cosine', warmupSteps: 4, totalSteps: 24, minLrRatio: 0.1 };

describe('learningRate', () => {
  it('warms up linearly to the peak at step warmupSteps − 1', () => {
    [5e-5, 1e-4, 1.5e-4, 2e-4].forEach((lr, s) => expect(learningRate(2e-4, cosine, s)).toBeCloseTo(lr, 15));
    expect(learningRate(2e-4, cosine, 3)).toBe(2e-4);
  });

  it('decays by a cosine to the floor at the last step and stays there', () => {
    expect(learningRate(1, cosine, 4)).toBeCloseTo(1, 12);
    // Halfway through the decay the cosine is at its midpoint: floor + (peak − floor)/2.
    expect(learningRate(1, { ...cosine, warmupSteps: 0, totalSteps: 3 }, 1)).toBeCloseTo(0.55, 12);
    expect(learningRate(1, cosine, 23)).toBeCloseTo(0.1, 12);
    expect(learningRate(1, cosine, 500)).toBeCloseTo(0.1, 12);
    for (let s = 4; s < 23; s++) expect(learningRate(1, cosine, s + 1)).toBeLessThan(learningRate(1, cosine, s));
  });

  it('holds the peak after warm-up when constant', () => {
    const constant: LrSchedule = { ...cosine, kind: 'constant' };
    expect(learningRate(3, constant, 1)).toBe(1.5);
    expect(learningRate(3, constant, 4)).toBe(3);
    expect(learningRate(3, { ...constant, warmupSteps: 0 }, 0)).toBe(3);
    expect(learningRate(3, constant, 1000)).toBe(3);
  });

  it('refuses steps that are not non-negative integers', () => {
    expect(() => learningRate(1, cosine, -1)).toThrow(RangeError);
    expect(() => learningRate(1, cosine, 1.5)).toThrow(RangeError);
  });
});
