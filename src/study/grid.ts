// The runs of a study: every combination of method × grid setting × examples per task × seed. A grid is
// "key=v1,v2 key2=v3" (settings by camelCase or kebab-case name, values parsed as the settings parse them);
// each combination gets a stable id from its values, so a study can be resumed and extended.

import {
  type SettingKey,
  type TrainMethod,
  type TrainSettings,
  SettingsError,
  TRAIN_METHODS,
  parseSettingValue,
} from '../train/settings';

export interface GridAxis {
  key: SettingKey;
  /** The values as typed (labels in reports). */
  texts: string[];
  values: Partial<TrainSettings>[];
}

export interface StudyRun {
  /** Stable, file-name safe: method, setting, examples per task, seed. */
  id: string;
  method: TrainMethod;
  seed: number;
  examplesPerTask: number;
  /** "lr=0.001 innerLr=0.01" or "defaults": the grid combination, the same for every seed and method. */
  setting: string;
  overrides: Partial<TrainSettings>;
}

const camel = (key: string) => key.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Parses grid specs (each "key=v1,v2", several per string separated by spaces). */
export function parseGrid(specs: readonly string[]): GridAxis[] {
  const axes: GridAxis[] = [];
  for (const part of specs.flatMap((s) => s.split(/\s+/)).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new SettingsError(`--grid ${part}: expected KEY=V1,V2,...`);
    const key = camel(part.slice(0, eq)) as SettingKey;
    if (key === 'method' || key === 'seed' || key === 'examplesPerTask') {
      throw new SettingsError(`--grid ${key}: use --methods, --seeds or --examples-per-task for it`);
    }
    if (axes.some((a) => a.key === key)) throw new SettingsError(`--grid: ${key} is given twice`);
    const texts = part
      .slice(eq + 1)
      .split(',')
      .filter((t) => t !== '');
    axes.push({ key, texts, values: texts.map((t) => parseSettingValue(key, t)) });
  }
  return axes;
}

export function parseMethods(text: string): TrainMethod[] {
  const methods = text
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  const bad = methods.filter((m) => !(TRAIN_METHODS as readonly string[]).includes(m));
  if (methods.length === 0 || bad.length > 0)
    throw new SettingsError(`--methods ${text}: choose among ${TRAIN_METHODS.join(', ')}`);
  return methods as TrainMethod[];
}

export function parseIntList(flag: string, text: string, min: number): number[] {
  const list = text.split(',').map((t) => Number(t.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < min)) {
    throw new SettingsError(`${flag} ${text}: expected integers ≥ ${min}, comma-separated`);
  }
  return list;
}

/** The grid's combinations, each as a label and its overrides. */
export function combinations(axes: readonly GridAxis[]): { setting: string; overrides: Partial<TrainSettings> }[] {
  let out = [{ labels: [] as string[], overrides: {} as Partial<TrainSettings> }];
  for (const axis of axes) {
    out = out.flatMap((c) =>
      axis.values.map((v, i) => ({
        labels: [...c.labels, `${axis.key}=${axis.texts[i]}`],
        overrides: { ...c.overrides, ...v },
      })),
    );
  }
  return out.map((c) => ({ setting: c.labels.length > 0 ? c.labels.join(' ') : 'defaults', overrides: c.overrides }));
}

/** Every run: methods × settings × examples per task × seeds (seeds 0..seeds−1 from `firstSeed`). */
export function studyRuns(o: {
  methods: readonly TrainMethod[];
  axes: readonly GridAxis[];
  examples: readonly number[];
  seeds: number;
  firstSeed: number;
}): StudyRun[] {
  const runs: StudyRun[] = [];
  for (const n of o.examples) {
    for (const method of o.methods) {
      for (const c of combinations(o.axes)) {
        for (let k = 0; k < o.seeds; k++) {
          const seed = o.firstSeed + k;
          const tag = c.setting === 'defaults' ? '' : `_${c.setting.replace(/[^A-Za-z0-9.=-]+/g, '_')}`;
          runs.push({
            id: `${method}${tag}_n${n}_s${seed}`,
            method,
            seed,
            examplesPerTask: n,
            setting: c.setting,
            overrides: c.overrides,
          });
        }
      }
    }
  }
  return runs;
}
