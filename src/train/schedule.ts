// Learning-rate schedules for the outer optimizer, as pure functions of the step so a resumed run needs no
// schedule state. MeTA-LoRA's inner SGD rate is not scheduled: it is part of the adaptation being learned.

export interface LrSchedule {
  kind: 'constant' | 'cosine';
  /** Steps of linear warm-up from peak/warmup to peak (0: none). */
  warmupSteps: number;
  /** Total steps; cosine reaches its floor here and stays there. */
  totalSteps: number;
  /** Cosine floor as a fraction of the peak rate. */
  minLrRatio: number;
}

/**
 * Rate at 0-based `step`. Warm-up is linear and reaches the peak at step warmupSteps − 1 (step 0 already
 * trains, at peak/warmupSteps); cosine then decays from the peak to peak·minLrRatio at totalSteps − 1.
 */
export function learningRate(peak: number, s: LrSchedule, step: number): number {
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be a non-negative integer, got ${step}`);
  if (step < s.warmupSteps) return (peak * (step + 1)) / s.warmupSteps;
  if (s.kind === 'constant') return peak;
  const span = s.totalSteps - s.warmupSteps - 1;
  const progress = span > 0 ? Math.min(1, (step - s.warmupSteps) / span) : 1;
  const floor = peak * s.minLrRatio;
  return floor + (peak - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}
