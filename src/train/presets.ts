// Named starting points for a run. A preset fixes the run's scale (iterations, pool size, logging cadence) and
// the rates that suit that many iterations (docs/TRAINING.md: over 1000 iterations MeTA-LoRA's inner rate 0.003
// trains a shared adapter that is poor until adapted, so the paper presets take 0.001), and leaves the method's
// other settings at their defaults, so switching method keeps the comparison fair: one preset, the same rates for
// every method.

import { type TrainMethod, type TrainSettings, SettingsError, resolveSettings } from './settings';

export interface TrainPreset {
  id: string;
  label: string;
  /** One line for the UI. */
  description: string;
  overrides: Partial<TrainSettings>;
}

export const PRESETS: readonly TrainPreset[] = [
  {
    id: 'paper',
    label: 'Paper (50 per task)',
    description: "The MeTA-LoRA paper's scale: 1000 iterations with a training pool of 50 examples per task.",
    overrides: {
      iterations: 1000,
      examplesPerTask: 50,
      warmupSteps: 20,
      evalEvery: 100,
      checkpointEvery: 100,
      lr: 1e-3,
      innerLr: 1e-3,
    },
  },
  {
    id: 'paper-100',
    label: 'Paper (100 per task)',
    description: "The paper's larger pool: 1000 iterations with 100 examples per task.",
    overrides: {
      iterations: 1000,
      examplesPerTask: 100,
      warmupSteps: 20,
      evalEvery: 100,
      checkpointEvery: 100,
      lr: 1e-3,
      innerLr: 1e-3,
    },
  },
  {
    id: 'demo',
    label: 'Quick demo',
    description:
      'A minute-scale run on short examples that visibly learns: 40 iterations at rate 1e-2, 16 examples per task.',
    overrides: {
      iterations: 40,
      examplesPerTask: 16,
      evalExamplesPerTask: 16,
      maxSeqLen: 96,
      warmupSteps: 4,
      evalEvery: 10,
      checkpointEvery: 20,
      lr: 1e-2,
    },
  },
];

/** Settings of preset `id` for `method`, with `overrides` (e.g. CLI flags) on top, validated. */
export function presetSettings(id: string, method: TrainMethod, overrides: Partial<TrainSettings> = {}): TrainSettings {
  const preset = PRESETS.find((p) => p.id === id);
  if (!preset) throw new SettingsError(`unknown preset "${id}"; choose one of ${PRESETS.map((p) => p.id).join(', ')}`);
  return resolveSettings(method, { ...preset.overrides, ...overrides });
}
