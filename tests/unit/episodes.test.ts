// What each iteration trains on: task files and their seeded splits, MeTA-LoRA episodes (K distinct tasks,
// disjoint support and query), mixed and per-task batches by epoch, and exact resume of every sampler.

import { describe, expect, it } from 'vitest';
import { MetaEpisodeSampler, MixedBatchSampler, SamplerError, TaskBatchSampler } from '../../src/train/episodes';
import { Rng } from '../../src/util/rng';
import { TaskFormatError, checkTaskNames, parseTaskJsonl, splitTask } from '../../src/data/tasks';

const jsonl = (n: number, tag: string) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ prompt: `${tag} ${i}?`, completion: ` ${i}` })).join('\n');

describe('task files and splits', () => {
  it('reads {prompt, completion} lines, skipping blank ones', () => {
    const task = parseTaskJsonl('add', `${jsonl(2, 'q')}\n\n{"prompt": "", "completion": "x", "extra": 1}\r\n`);
    expect(task.examples).toEqual([
      { prompt: 'q 0?', completion: ' 0' },
      { prompt: 'q 1?', completion: ' 1' },
      { prompt: '', completion: 'x' },
    ]);
  });

  it('names the task and line of a bad example', () => {
    expect(() => parseTaskJsonl('t', '{"prompt":"a","completion":"b"}\n{oops')).toThrow(
      /task t, line 2: not valid JSON/,
    );
    expect(() => parseTaskJsonl('t', '\n[1]')).toThrow(/line 2: expected an object/);
    expect(() => parseTaskJsonl('t', '{"prompt":1,"completion":"b"}')).toThrow(/line 1: "prompt" must be a string/);
    expect(() => parseTaskJsonl('t', '{"prompt":"a","completion":""}')).toThrow(
      /line 1: "completion" must be a non-empty/,
    );
    expect(() => parseTaskJsonl('t', '\n \n')).toThrow(TaskFormatError);
  });

  it('checks task names', () => {
    const t = (name: string) => ({ name, examples: [] });
    expect(() => checkTaskNames([t('a'), t('b')])).not.toThrow();
    expect(() => checkTaskNames([])).toThrow(/no tasks/);
    expect(() => checkTaskNames([t('a'), t('a')])).toThrow(/two tasks are named "a"/);
    expect(() => checkTaskNames([t('mean')])).toThrow(/reserved/);
    expect(() => checkTaskNames([t(' ')])).toThrow(/empty name/);
  });

  it('splits each task by (seed, name) into a pool and a capped held-out set', () => {
    const task = parseTaskJsonl('add', jsonl(80, 'q'));
    const a = splitTask(task, { poolSize: 50, evalMax: 20, seed: 1 });
    expect([a.train.length, a.eval.length]).toEqual([50, 20]);
    expect(new Set([...a.train, ...a.eval]).size).toBe(70);
    expect(splitTask(task, { poolSize: 50, evalMax: 20, seed: 1 })).toEqual(a);
    expect(splitTask(task, { poolSize: 50, evalMax: 20, seed: 2 }).train).not.toEqual(a.train);
    expect(splitTask({ ...task, name: 'other' }, { poolSize: 50, evalMax: 20, seed: 1 }).train).not.toEqual(a.train);
    const small = splitTask(parseTaskJsonl('s', jsonl(10, 'q')), { poolSize: 50, evalMax: 20, seed: 1 });
    expect([small.train.length, small.eval.length]).toEqual([10, 0]);
  });
});

/** Runs a sampler n times, then checks a second sampler restored from the state continues identically. */
function checkResume<T>(make: () => { next(): T; getState(): unknown; setState(s: never): void }, n: number): void {
  const a = make();
  for (let i = 0; i < n; i++) a.next();
  const state = JSON.parse(JSON.stringify(a.getState()));
  const rest = Array.from({ length: 2 * n }, () => a.next());
  const b = make();
  b.setState(state as never);
  expect(Array.from({ length: 2 * n }, () => b.next())).toEqual(rest);
}

describe('MetaEpisodeSampler', () => {
  const pools = [50, 12, 30, 9, 20];
  const opts = { tasksPerIteration: 4, supportSize: 4, querySize: 4 };

  it('draws K distinct tasks, each with disjoint support and query from its pool', () => {
    const s = new MetaEpisodeSampler(pools, opts, Rng.fromSeed(1));
    const seenTasks = new Set<number>();
    const seenExamples = new Set<string>();
    for (let it = 0; it < 200; it++) {
      const ep = s.next();
      expect(ep.length).toBe(4);
      expect(new Set(ep.map((e) => e.task)).size).toBe(4);
      for (const { task, support, query } of ep) {
        seenTasks.add(task);
        expect([support.length, query.length]).toEqual([4, 4]);
        expect(new Set([...support, ...query]).size).toBe(8);
        for (const i of [...support, ...query]) {
          expect(Number.isInteger(i) && i >= 0 && i < pools[task]).toBe(true);
          seenExamples.add(`${task}:${i}`);
        }
      }
    }
    expect(seenTasks.size).toBe(5);
    expect(seenExamples.size).toBe(pools.reduce((a, b) => a + b, 0));
  });

  it('caps K at the number of tasks and is deterministic per seed', () => {
    const s = new MetaEpisodeSampler([10, 10], opts, Rng.fromSeed(2));
    expect(s.tasksPerIteration).toBe(2);
    expect(
      s
        .next()
        .map((e) => e.task)
        .sort(),
    ).toEqual([0, 1]);
    const run = (seed: number) => {
      const x = new MetaEpisodeSampler(pools, opts, Rng.fromSeed(seed));
      return Array.from({ length: 5 }, () => x.next());
    };
    expect(run(9)).toEqual(run(9));
    expect(run(9)).not.toEqual(run(10));
  });

  it('refuses support + query larger than a pool', () => {
    expect(() => new MetaEpisodeSampler([20, 7], opts, Rng.fromSeed(0))).toThrow(
      /task 1: support \(4\) \+ query \(4\)/,
    );
    expect(() => new MetaEpisodeSampler([], opts, Rng.fromSeed(0))).toThrow(SamplerError);
    expect(() => new MetaEpisodeSampler([10], { ...opts, querySize: 0 }, Rng.fromSeed(0))).toThrow(SamplerError);
  });

  it('resumes exactly from its state', () => {
    checkResume(() => new MetaEpisodeSampler(pools, opts, Rng.fromSeed(4)), 7);
  });
});

describe('MixedBatchSampler', () => {
  it('covers every pooled example once per epoch, mixed across tasks, without repeats in a batch', () => {
    const s = new MixedBatchSampler([6, 4, 2], 4, Rng.fromSeed(3));
    for (let epoch = 0; epoch < 3; epoch++) {
      const batches = [s.next(), s.next(), s.next()];
      expect(s.epoch).toBe(epoch);
      const keys = batches.flat().map((p) => `${p.task}:${p.index}`);
      expect(new Set(keys).size).toBe(12);
    }
    expect(
      new Set(
        Array.from({ length: 20 }, () => s.next())
          .flat()
          .map((p) => p.task),
      ).size,
    ).toBe(3);
  });

  it("leaves an epoch's remainder for the next shuffle rather than repeating within a batch", () => {
    const s = new MixedBatchSampler([5], 2, Rng.fromSeed(8));
    for (let i = 0; i < 40; i++) {
      const [a, b] = s.next();
      expect(a.index).not.toBe(b.index);
    }
    expect(() => new MixedBatchSampler([2, 1], 4, Rng.fromSeed(0))).toThrow(/batch size 4 exceeds the 3/);
  });

  it("resumes exactly from its state and refuses another sampler's state", () => {
    checkResume(() => new MixedBatchSampler([6, 4, 2], 4, Rng.fromSeed(5)), 5);
    const state = new MixedBatchSampler([6, 4], 4, Rng.fromSeed(5)).getState();
    expect(() => new MixedBatchSampler([6, 4, 2], 4, Rng.fromSeed(5)).setState(state)).toThrow(/pool sizes/);
    expect(() => new TaskBatchSampler([6, 4], 2, Rng.fromSeed(5)).setState(state)).toThrow(/'mixed', not 'per-task'/);
  });
});

describe('TaskBatchSampler', () => {
  it('gives single-task batches with every task once per round', () => {
    const pools = [8, 5, 6];
    const s = new TaskBatchSampler(pools, 3, Rng.fromSeed(6));
    for (let round = 0; round < 10; round++) {
      const batches = [s.next(), s.next(), s.next()];
      expect(batches.map((b) => b.task).sort()).toEqual([0, 1, 2]);
      for (const { task, indices } of batches) {
        expect(new Set(indices).size).toBe(3);
        expect(indices.every((i) => i >= 0 && i < pools[task])).toBe(true);
      }
    }
    expect(() => new TaskBatchSampler([8, 2], 3, Rng.fromSeed(0))).toThrow(/task 1's training pool of 2/);
  });

  it('resumes exactly from its state', () => {
    checkResume(() => new TaskBatchSampler([8, 5, 6], 3, Rng.fromSeed(7)), 4);
  });
});
