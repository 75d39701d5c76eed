// Training settings and presets (defaults, explanations, validation that lists every problem, text
// parsing) and the metrics records (mean rows, JSONL round trip, the in-memory series).

import { describe, expect, it } from 'vitest';
import {
  MEAN_TASK,
  type MetricsRecord,
  MetricsSeries,
  meanRow,
  metricsLine,
  parseMetricsJsonl,
} from '../../src/train/metrics';
import { PRESETS, presetSettings } from '../../src/train/presets';
import {
  DEFAULT_SETTINGS,
  SETTING_INFO,
  SettingsError,
  TRAIN_METHODS,
  parseSettingValue,
  resolveSettings,
  validateSettings,
} from '../../src/train/settings';

describe('training settings', () => {
  it("has the study's defaults (docs/TRAINING.md) and a one-line explanation for every setting", () => {
    const s = resolveSettings('meta-lora');
    expect([
      s.tasksPerIteration,
      s.supportSize,
      s.querySize,
      s.innerSteps,
      s.innerLr,
      s.lr,
      s.rank,
      s.loraAlpha,
      s.dropout,
    ]).toEqual([4, 4, 4, 2, 0.003, 2e-3, 8, 16, 0]);
    expect([s.answerStop, s.normalizeAnswers, s.adaptExamples]).toEqual(['reference', true, 0]);
    expect(s.targets).toEqual(['q', 'k', 'v', 'o']);
    expect(Object.keys(SETTING_INFO).sort()).toEqual(Object.keys(DEFAULT_SETTINGS).sort());
    for (const info of Object.values(SETTING_INFO)) {
      expect(info.help.length).toBeGreaterThan(10);
      expect(info.help).not.toContain('\n');
    }
    for (const m of TRAIN_METHODS) expect(resolveSettings(m).method).toBe(m);
  });

  it('lists every invalid setting in one error', () => {
    const bad = {
      ...DEFAULT_SETTINGS,
      rank: 0,
      dropout: 1,
      targets: ['q', 'q'],
      lr: Number.NaN,
      supportSize: 30,
      querySize: 30,
    };
    let message = '';
    try {
      validateSettings(bad as never);
    } catch (e) {
      expect(e).toBeInstanceOf(SettingsError);
      message = (e as Error).message;
    }
    for (const key of ['rank = 0', 'dropout = 1', 'targets = ["q","q"]', 'lr = null', 'supportSize = 30'])
      expect(message).toContain(key);
    expect(() => resolveSettings('lora', { supportSize: 30, querySize: 30 })).not.toThrow();
    expect(() => resolveSettings('lora', { batchSize: 51 })).toThrow(/batchSize = 51/);
    expect(() => validateSettings({ ...DEFAULT_SETTINGS, innerStep: 2 } as never)).toThrow(
      /innerStep: unknown setting/,
    );
  });

  it('parses settings from text by the type of their default', () => {
    expect(parseSettingValue('innerLr', '0.05')).toEqual({ innerLr: 0.05 });
    expect(parseSettingValue('appendEos', 'false')).toEqual({ appendEos: false });
    expect(parseSettingValue('targets', 'q, v,gate')).toEqual({ targets: ['q', 'v', 'gate'] });
    expect(parseSettingValue('schedule', 'constant')).toEqual({ schedule: 'constant' });
    expect(() => parseSettingValue('lr', 'fast')).toThrow(/lr: "fast" is not a number/);
    expect(() => parseSettingValue('lr', '')).toThrow(SettingsError);
    expect(() => parseSettingValue('appendEos', 'yes')).toThrow(/true or false/);
    expect(() => parseSettingValue('nope', '1')).toThrow(/unknown setting "nope"/);
  });

  it('offers the paper presets and a quick demo, with overrides on top', () => {
    expect(PRESETS.map((p) => p.id)).toEqual(['paper', 'paper-100', 'demo']);
    const paper = presetSettings('paper', 'meta-lora');
    expect([paper.iterations, paper.examplesPerTask]).toEqual([1000, 50]);
    expect(presetSettings('paper-100', 'lora').examplesPerTask).toBe(100);
    const demo = presetSettings('demo', 'mtl-lora', { seed: 9 });
    expect([demo.method, demo.seed, demo.iterations < 100]).toEqual(['mtl-lora', 9, true]);
    // The outer rate follows the iteration budget: more iterations, a lower rate (docs/TRAINING.md).
    expect([demo.lr, paper.lr]).toEqual([1e-2, 1e-3]);
    // So does MeTA-LoRA's inner rate: 0.003 over 1000 iterations leaves the shared adapter poor until adapted.
    expect([demo.innerLr, paper.innerLr]).toEqual([3e-3, 1e-3]);
    expect(presetSettings('demo', 'lora', { lr: 1e-3 }).lr).toBe(1e-3);
    expect(() => presetSettings('huge', 'lora')).toThrow(/unknown preset "huge"/);
  });
});

describe('metrics', () => {
  const rows: MetricsRecord[] = [
    { iteration: 3, task: 'add', support_loss: 2, query_loss: 1.5, lr: 1e-4, tokens_per_s: 250 },
    { iteration: 3, task: 'sub', support_loss: 4, query_loss: Number.NaN, lr: 1e-4, tokens_per_s: 250 },
  ];

  it("averages an iteration's task rows into a mean row", () => {
    expect(meanRow(rows)).toEqual({
      iteration: 3,
      task: MEAN_TASK,
      support_loss: 3,
      query_loss: Number.NaN,
      lr: 1e-4,
      tokens_per_s: 250,
    });
    const noSupport = rows.map((r) => ({ ...r, support_loss: null, query_loss: 1 }));
    expect(meanRow(noSupport).support_loss).toBeNull();
    expect(
      meanRow([
        { ...rows[0], eval_loss: 1 },
        { ...rows[0], eval_loss: 3 },
      ]).eval_loss,
    ).toBe(2);
  });

  it('writes JSON Lines (non-finite as null) and reads them back, naming bad lines', () => {
    expect(metricsLine(rows[1])).toBe(
      '{"iteration":3,"task":"sub","support_loss":4,"query_loss":null,"lr":0.0001,"tokens_per_s":250}',
    );
    const series = new MetricsSeries(rows);
    expect(parseMetricsJsonl(series.toJsonl())).toEqual([rows[0], { ...rows[1], query_loss: null }]);
    expect(() => parseMetricsJsonl(`${metricsLine(rows[0])}\n{"iteration":1.5}`)).toThrow(/line 2: iteration/);
    expect(() => parseMetricsJsonl('{"iteration":1,"task":"a","support_loss":"x"}')).toThrow(/line 1: support_loss/);
    expect(() => parseMetricsJsonl('nope')).toThrow(/line 1: not valid JSON/);
  });

  it('serves chart points per task and notifies subscribers', () => {
    const series = new MetricsSeries();
    let calls = 0;
    const stop = series.subscribe(() => calls++);
    series.append(...rows, meanRow(rows));
    series.append({ ...rows[0], iteration: 4, query_loss: 1.25 });
    stop();
    series.append({ ...rows[0], iteration: 5 });
    expect(calls).toBe(2);
    expect(series.tasks()).toEqual(['add', 'sub', MEAN_TASK]);
    expect(series.points('add', 'query_loss')).toEqual([
      { iteration: 3, value: 1.5 },
      { iteration: 4, value: 1.25 },
      { iteration: 5, value: 1.5 },
    ]);
    expect(series.points('sub', 'query_loss')).toEqual([{ iteration: 3, value: Number.NaN }]);
    expect(series.points('add', 'eval_loss')).toEqual([]);
  });
});
