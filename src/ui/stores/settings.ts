// The training settings being edited: the method, the preset they started from, and every setting (the same
// record the engine, checkpoints and the CLI use). Invalid values are reported, not silently fixed.

import { create } from 'zustand';
import { presetSettings } from '../../train/presets';
import { DEFAULT_SETTINGS, resolveSettings, type TrainMethod, type TrainSettings } from '../../train/settings';
import { loadValue, saveValue } from './persist';

interface SettingsState {
  settings: TrainSettings;
  preset: string | null;
  /** Why the last edit was refused (the previous valid settings are kept). */
  error: string | null;
  setMethod(method: TrainMethod): void;
  applyPreset(id: string): void;
  update(patch: Partial<TrainSettings>): void;
  restore(): Promise<void>;
}

const persist = (s: Pick<SettingsState, 'settings' | 'preset'>) =>
  void saveValue('settings', { settings: s.settings, preset: s.preset });

export const useSettings = create<SettingsState>((set, get) => ({
  settings: presetSettings('demo', 'meta-lora'),
  preset: 'demo',
  error: null,
  setMethod(method) {
    get().update({ method });
  },
  applyPreset(id) {
    const settings = presetSettings(id, get().settings.method, {
      seed: get().settings.seed,
      targets: get().settings.targets,
    });
    set({ settings, preset: id, error: null });
    persist(get());
  },
  update(patch) {
    try {
      const settings = resolveSettings(patch.method ?? get().settings.method, { ...get().settings, ...patch });
      set({ settings, error: null });
      persist(get());
    } catch (e) {
      set({ error: (e as Error).message });
    }
  },
  async restore() {
    const saved = await loadValue<{ settings: TrainSettings; preset: string | null }>('settings');
    if (!saved) return;
    try {
      // Settings saved by an older version may lack newer keys: defaults fill them, validation still applies.
      const old = { ...DEFAULT_SETTINGS, ...saved.settings };
      // The pre-study rates (lr 2e-4 with innerLr 0.1) learned nothing (docs/TRAINING.md): a record still holding
      // both untouched gets the preset's (or the default) rates instead.
      if (old.lr === 2e-4 && old.innerLr === 0.1) {
        const fresh = saved.preset ? presetSettings(saved.preset, old.method) : DEFAULT_SETTINGS;
        Object.assign(old, { lr: fresh.lr, innerLr: fresh.innerLr });
      }
      set({ settings: resolveSettings(old.method, old), preset: saved.preset });
    } catch {
      // Saved settings that no longer validate are dropped in favour of the defaults.
    }
  },
}));
