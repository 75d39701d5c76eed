// Step 3, the method and its settings: MeTA-LoRA by default, its −STA ablation, plain multi-task LoRA and
// MTL-LoRA; a preset (the paper's scale, a quick demo); every setting the chosen method reads, each with the
// one-line explanation the CLI's help shows too.

import { ALL_TARGETS, type TargetModule } from '../../adapters/types';
import { ANSWER_STOPS } from '../../train/answers';
import { PRESETS } from '../../train/presets';
import {
  DEFAULT_SETTINGS,
  SETTING_INFO,
  TRAIN_METHODS,
  type SettingKey,
  type TrainMethod,
  type TrainSettings,
} from '../../train/settings';
import { ErrorBox } from '../parts/common';
import { useSettings } from '../stores/settings';

export const METHOD_TEXT: Record<TrainMethod, { name: string; line: string }> = {
  'meta-lora': {
    name: 'MeTA-LoRA',
    line: "Adapts a copy of the adapter to each sampled task on a support set, then updates the shared adapter from the adapted copies' query gradients.",
  },
  'meta-lora-no-sta': {
    name: 'MeTA-LoRA −STA',
    line: 'The ablation: the same episodes without the task-specific adaptation (query gradients at the shared adapter).',
  },
  lora: { name: 'LoRA', line: 'The multi-task baseline: one adapter trained on batches mixed across tasks.' },
  'mtl-lora': {
    name: 'MTL-LoRA',
    line: 'A shared A, a task-specific r×r transform per task, and several up-projections mixed per task.',
  },
};

/** Settings chosen from a list. */
const CHOICES = {
  schedule: ['cosine', 'constant'],
  mtlWInit: ['kaiming', 'uniform'],
  answerStop: ANSWER_STOPS,
} as const;

/** Settings not edited as plain fields (method and targets have their own controls). */
const SPECIAL: readonly SettingKey[] = ['method', 'targets'];

function Field({ k, s, update }: { k: SettingKey; s: TrainSettings; update: (p: Partial<TrainSettings>) => void }) {
  const info = SETTING_INFO[k];
  const value = s[k];
  const id = `setting-${k}`;
  let input;
  if (typeof value === 'boolean') {
    input = <input id={id} type="checkbox" checked={value} onChange={(e) => update({ [k]: e.target.checked })} />;
  } else if (k === 'stopStrings') {
    input = (
      <input
        id={id}
        type="text"
        defaultValue={s.stopStrings.join(',')}
        key={s.stopStrings.join(',')}
        data-testid={id}
        placeholder="e.g. ###"
        onBlur={(e) => update({ stopStrings: e.target.value.split(',').filter((t) => t !== '') })}
      />
    );
  } else if (k in CHOICES) {
    const options = CHOICES[k as keyof typeof CHOICES];
    input = (
      <select id={id} value={String(value)} onChange={(e) => update({ [k]: e.target.value } as Partial<TrainSettings>)}>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    );
  } else {
    input = (
      <input
        id={id}
        type="number"
        step="any"
        defaultValue={String(value)}
        key={String(value)}
        data-testid={id}
        onBlur={(e) => {
          const v = Number(e.target.value);
          if (e.target.value !== '' && v !== value) update({ [k]: v });
        }}
      />
    );
  }
  return (
    <div className="field">
      <label htmlFor={id}>{info.label}</label>
      {input}
      <small>
        {info.help}
        {value !== DEFAULT_SETTINGS[k] && typeof value !== 'object' ? ` (default ${String(DEFAULT_SETTINGS[k])})` : ''}
      </small>
    </div>
  );
}

export function MethodPanel() {
  const { settings, preset, error, setMethod, applyPreset, update } = useSettings();
  const keys = (Object.keys(SETTING_INFO) as SettingKey[]).filter(
    (k) => !SPECIAL.includes(k) && SETTING_INFO[k].appliesTo.includes(settings.method),
  );
  const toggleTarget = (t: TargetModule, on: boolean) =>
    update({ targets: ALL_TARGETS.filter((x) => (x === t ? on : settings.targets.includes(x))) });

  return (
    <section className="card" aria-labelledby="method-h">
      <h2 id="method-h">3 · Method</h2>
      <fieldset className="methods">
        <legend>Method</legend>
        {TRAIN_METHODS.map((m) => (
          <label key={m} className="method">
            <input
              type="radio"
              name="method"
              value={m}
              checked={settings.method === m}
              onChange={() => setMethod(m)}
              data-testid={`method-${m}`}
            />
            <strong>{METHOD_TEXT[m].name}</strong>
            {m === 'meta-lora' && <span className="badge">default</span>}
            <small>{METHOD_TEXT[m].line}</small>
          </label>
        ))}
      </fieldset>
      <div className="presets" role="group" aria-label="Presets">
        {PRESETS.map((p) => (
          <button
            key={p.id}
            type="button"
            className={preset === p.id ? 'secondary active' : 'secondary'}
            title={p.description}
            aria-pressed={preset === p.id}
            onClick={() => applyPreset(p.id)}
            data-testid={`preset-${p.id}`}
          >
            {p.label}
          </button>
        ))}
      </div>
      <ErrorBox message={error} />
      <fieldset>
        <legend>Target modules</legend>
        {ALL_TARGETS.map((t) => (
          <label key={t} className="inline">
            <input
              type="checkbox"
              checked={settings.targets.includes(t)}
              onChange={(e) => toggleTarget(t, e.target.checked)}
            />{' '}
            {t}_proj
          </label>
        ))}
        <small className="muted">{SETTING_INFO.targets.help}</small>
      </fieldset>
      <div className="fields">
        {keys.map((k) => (
          <Field key={k} k={k} s={settings} update={update} />
        ))}
      </div>
    </section>
  );
}
