// Splits and episodes over whole datasets (the training code's own splitTask and MetaEpisodeSampler): a pool
// and held-out set fixed by the seed, unchanged when a task is added, disjoint support and query; and the demo
// task sets in public/demo read through src/data, the stories ones exactly as the old JSONL reader read them.

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type DataTask, applyMapping, detectMapping, readTable, splitTasks } from '../../src/data';
import { sampleEpisodes } from '../../src/train/episodes';
import { DEFAULT_SETTINGS, splitPlan } from '../../src/train/settings';

/** The default settings' split plan with this seed, as the app and the CLI derive it. */
const defaultPlan = (seed: number) => splitPlan({ ...DEFAULT_SETTINGS, seed });
import { parseEvalTask } from '../../src/train/evaluate';

const task = (name: string, n: number): DataTask => ({
  name,
  examples: Array.from({ length: n }, (_, i) => ({ prompt: `${name} ${i}?`, completion: ` ${i}`, line: i + 1 })),
});

function loadDemo(path: string) {
  const table = readTable(path.split('/').pop()!, new Uint8Array(readFileSync(path)));
  const mapping = detectMapping(table);
  return { table, mapping, ...applyMapping(table, mapping) };
}

describe('splitTasks', () => {
  it("fixes each task's pool (default 50) and held-out set by the seed and its name", () => {
    const tasks = [task('a', 80), task('b', 120)];
    const { splits, summary } = splitTasks(tasks, defaultPlan(3));
    expect(summary.map((s) => [s.task, s.train, s.eval, s.unused])).toEqual([
      ['a', 50, 30, 0],
      ['b', 50, 70, 0],
    ]);
    expect(new Set([...splits[0].train, ...splits[0].eval].map((e) => e.line)).size).toBe(80);
    expect(splitTasks(tasks, defaultPlan(3)).splits).toEqual(splits);
    expect(splitTasks(tasks, defaultPlan(4)).splits[0].train).not.toEqual(splits[0].train);
    // Adding a task (anywhere) leaves the others' splits as they were.
    const more = splitTasks([task('new', 60), ...tasks], defaultPlan(3)).splits;
    expect(more.slice(1)).toEqual(splits);
  });

  it('says what will not work: no held-out set, a pool too small for an episode', () => {
    const { summary } = splitTasks([task('small', 30), task('exact', 50), task('fine', 200)], {
      seed: 1,
      poolSize: 50,
      evalMax: 100,
      supportSize: 20,
      querySize: 20,
    });
    expect(summary.map((s) => [s.train, s.eval, s.unused])).toEqual([
      [30, 0, 0],
      [50, 0, 0],
      [50, 100, 50],
    ]);
    expect(summary[0].notes).toEqual([
      'only 30 examples for a pool of 50: all train, none is held out',
      'support + query (40) exceed the pool of 30; MeTA-LoRA cannot draw them disjointly',
    ]);
    expect(summary[1].notes).toEqual(['no example is left for a held-out set']);
    expect(summary[2].notes).toEqual([]);
  });
});

describe('sampleEpisodes', () => {
  it('draws K distinct tasks with disjoint support and query from their pools, the same for the same seed', () => {
    const { splits } = splitTasks([task('a', 80), task('b', 60), task('c', 55)], defaultPlan(9));
    const episodes = sampleEpisodes(splits, { seed: 9, tasksPerIteration: 2, supportSize: 4, querySize: 4 }, 50);
    for (const episode of episodes) {
      expect(new Set(episode.map((e) => e.task)).size).toBe(2);
      for (const { task: name, support, query } of episode) {
        const pool = splits.find((s) => s.name === name)!.train;
        expect([support.length, query.length]).toEqual([4, 4]);
        expect(new Set([...support, ...query]).size).toBe(8);
        expect([...support, ...query].every((e) => pool.includes(e))).toBe(true);
      }
    }
    expect(sampleEpisodes(splits, { seed: 9, tasksPerIteration: 2, supportSize: 4, querySize: 4 }, 50)).toEqual(
      episodes,
    );
    expect(sampleEpisodes(splits, { seed: 10, tasksPerIteration: 2, supportSize: 4, querySize: 4 }, 50)).not.toEqual(
      episodes,
    );
  });
});

describe('demo task sets', () => {
  it('stories: read as the JSONL prompt/completion/choices reader reads them', () => {
    const dir = 'public/demo/stories/';
    const files = readdirSync(dir).filter((f) => f.endsWith('.jsonl'));
    expect(files.length).toBe(4);
    for (const f of files) {
      const { mapping, tasks, report } = loadDemo(dir + f);
      const old = parseEvalTask(f.replace('.jsonl', ''), readFileSync(dir + f, 'utf8'));
      expect([mapping.schema, report.skipped, tasks.length]).toEqual(['prompt-completion', 0, 1]);
      expect(tasks[0].name).toBe(old.name);
      expect(tasks[0].examples.map(({ line: _, ...e }) => e)).toEqual(old.examples);
    }
  });

  it('instruct: four formats, each detected, with a pool of 50 and a held-out set', () => {
    const dir = 'public/demo/instruct/';
    const expected: Record<string, [string, string, number, boolean]> = {
      'sentiment.csv': ['csv', 'sentiment', 92, true],
      'yesno.tsv': ['tsv', 'question-answer', 90, true],
      'arithmetic.jsonl': ['jsonl', 'gsm8k', 96, false],
      'capitals.json': ['json', 'alpaca', 94, false],
    };
    expect(
      readdirSync(dir)
        .filter((f) => f !== 'README.md')
        .sort(),
    ).toEqual(Object.keys(expected).sort());
    const tasks: DataTask[] = [];
    for (const [f, [format, schema, n, choices]] of Object.entries(expected)) {
      const loaded = loadDemo(dir + f);
      expect([
        f,
        loaded.table.format,
        loaded.mapping.schema,
        loaded.report.rows,
        loaded.report.used,
        loaded.report.issues,
      ]).toEqual([f, format, schema, n, n, []]);
      expect(loaded.report.tasks[0].withChoices === n, f).toBe(choices);
      tasks.push(...loaded.tasks);
    }
    const sentiment = tasks.find((t) => t.name === 'sentiment')!;
    // The CSV's quoted review with a line break, read whole; the next record's line follows it.
    const multiline = sentiment.examples.find((e) =>
      e.prompt.includes('Great view from the balcony.\nGreat breakfast too.'),
    )!;
    expect(multiline.completion).toBe(' positive');
    expect(sentiment.examples[sentiment.examples.indexOf(multiline) + 1].line).toBe(multiline.line + 2);
    const { summary } = splitTasks(tasks, defaultPlan(1));
    expect(summary.every((s) => s.train === 50 && s.eval >= 40 && s.notes.length === 0)).toBe(true);
  });
});
