// The study: its grid and statistics on known inputs, and `cli study` as a user runs it (subprocess, Dawn, the
// real stories260K): every run trained and evaluated, the reports written, and a second invocation that skips
// the finished runs and trains only what is new; then the same run with --engine pytorch (trained by the
// exported recipe) giving the WebGPU trainer's results.

import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { combinations, parseGrid, studyRuns } from '../../src/study/grid';
import { formatStat } from '../../src/study/report';
import { type RunResult, curveOf, stat, summarize } from '../../src/study/summary';
import { sharedPath } from '../helpers/shared';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
const BIN = sharedPath('models/stories260K/stories260K.bin');
const out = mkdtempSync(join(tmpdir(), 'study-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('study grid and statistics', () => {
  it('expands methods × grid × examples × seeds with stable ids', () => {
    const axes = parseGrid(['lr=1e-3,3e-3 inner-lr=0.01']);
    expect(combinations(axes).map((c) => c.setting)).toEqual(['lr=1e-3 innerLr=0.01', 'lr=3e-3 innerLr=0.01']);
    expect(combinations(axes)[1].overrides).toEqual({ lr: 3e-3, innerLr: 0.01 });
    const runs = studyRuns({ methods: ['lora', 'meta-lora'], axes, examples: [16, 50], seeds: 2, firstSeed: 5 });
    expect(runs).toHaveLength(2 * 2 * 2 * 2);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    expect(runs[0]).toMatchObject({ id: 'lora_lr=1e-3_innerLr=0.01_n16_s5', seed: 5, examplesPerTask: 16 });
    expect(() => parseGrid(['seed=1,2'])).toThrow(/--seeds/);
    expect(() => parseGrid(['nope=1'])).toThrow(/unknown setting/);
  });

  it('mean ± sample sd over seeds, tasks averaged first', () => {
    expect(stat([1, 2, 3])).toEqual({ mean: 2, sd: 1, n: 3 });
    expect(formatStat(stat([0.5, 0.7]), true)).toBe('60 ± 14');
    const task = (name: string, loss: number) => ({
      task: name,
      kind: 'generation' as const,
      examples: 4,
      split: 'held-out' as const,
      adapted: null,
      shared: { loss, loss_no_eos: loss, exact_match: 0, starts_with: 0, answer_accuracy: 0, choice_accuracy: null },
    });
    const result = (seed: number, a: number, b: number): RunResult => ({
      id: `x${seed}`,
      method: 'lora',
      seed,
      examplesPerTask: 16,
      setting: 'defaults',
      overrides: {},
      settings: {} as never,
      seconds: 1,
      curve: curveOf([
        { iteration: 10, task: 'mean', support_loss: null, query_loss: null, lr: 0, tokens_per_s: 0, eval_loss: a + b },
      ]),
      tasks: [task('a', a), task('b', b)],
    });
    const [g] = summarize([result(0, 1, 3), result(1, 3, 5)], []);
    expect(g.scores.shared.loss.a).toEqual({ mean: 2, sd: Math.SQRT2, n: 2 });
    expect(g.scores.shared.loss.mean).toEqual({ mean: 3, sd: Math.SQRT2, n: 2 }); // per seed (2, 4)
    expect(g.curve).toEqual([{ iteration: 10, mean: { mean: 6, sd: 2 * Math.SQRT2, n: 2 } }]);
  });
});

describe('cli study on stories260K', () => {
  const args = (seeds: string) => [
    'study',
    BIN,
    '--task',
    'colors=public/demo/stories/colors.jsonl',
    '--methods',
    'lora',
    '--seeds',
    seeds,
    '--preset',
    'demo',
    '--iterations',
    '4',
    '--eval-every',
    '2',
    '--eval-examples-per-task',
    '4',
    '--out',
    out,
  ];

  it('trains and evaluates every run, writes the reports, and a rerun trains only the new seeds', async () => {
    const first = await cli(...args('1'));
    expect(first.stderr).toMatch(/\[1\/1\] lora_n16_s0 {2}training lora/);
    const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(results.runs).toHaveLength(1);
    const [r] = results.runs;
    expect(r.curve.map((p: { iteration: number }) => p.iteration)).toEqual([2, 4]);
    expect(r.tasks[0]).toMatchObject({ task: 'colors', split: 'held-out', examples: 4 });
    expect(r.tasks[0].adapted.loss).toBeGreaterThan(0);
    for (const f of ['results.md', 'curves-n16.svg', 'final-n16.svg', 'adapted-n16.svg', 'base/n16_s0.json'])
      expect(existsSync(join(out, f))).toBe(true);
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(
      /\| base model \| 1 \| \d+\.\d{3} \| \d+\.\d{3} \|\n\| lora \| 1 \|/,
    );
    expect(readFileSync(join(out, 'curves-n16.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<polyline[\s\S]*<\/svg>$/);

    const second = await cli(...args('2'));
    expect(second.stderr).toMatch(/\[1\/2\] lora_n16_s0 {2}done earlier/);
    expect(second.stderr).toMatch(/\[2\/2\] lora_n16_s1 {2}training lora/);
    const again = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    expect(again.runs.map((x: { seed: number }) => x.seed)).toEqual([0, 1]);
    expect(again.runs[0]).toEqual(r); // the finished run was not trained again
    expect(readFileSync(join(out, 'results.md'), 'utf8')).toMatch(/\| lora \| 2 \| \d+\.\d{3} ± \d+\.\d{3} \|/);
  }, 300_000);

  // --engine pytorch: the same run trained by the exported recipe (train.py), evaluated on WebGPU as above.
  const PYTHON = '/usr/bin/python3'; // Debian's python3-torch (.ci/run installs it); without it this fails
  const torchOut = join(out, 'engine-pytorch');
  const withTorch = (python = PYTHON) => [
    ...args('1').slice(0, -1),
    torchOut,
    '--engine',
    'pytorch',
    '--python',
    python,
  ];
  const runResult = (dir: string) => JSON.parse(readFileSync(join(dir, 'runs/lora_n16_s0/result.json'), 'utf8'));

  it("--engine pytorch gives the WebGPU trainer's results, and a rerun skips the finished run", async () => {
    // A checkpoint left by other settings (e.g. before a change of defaults) is not resumed: the run starts over.
    mkdirSync(join(torchOut, 'runs/lora_n16_s0'), { recursive: true });
    writeFileSync(join(torchOut, 'runs/lora_n16_s0/torch_checkpoint.json'), '{"iteration": 2, "settings": {"lr": 1}}');
    const first = await cli(...withTorch());
    expect(first.stderr).toMatch(/\[1\/1\] lora_n16_s0 {2}\[pytorch\] training lora on 1 tasks/);
    const gpu = runResult(out); // trained on WebGPU by the test above
    const torch = runResult(torchOut);
    expect(torch.curve.map((p: { iteration: number }) => p.iteration)).toEqual([2, 4]);
    const close = (a: number, b: number) => expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-4 * Math.abs(b));
    torch.curve.forEach((p: { mean: number }, i: number) => close(p.mean, gpu.curve[i].mean));
    for (const side of ['shared', 'adapted'] as const) {
      close(torch.tasks[0][side].loss, gpu.tasks[0][side].loss);
      expect(torch.tasks[0][side].answer_accuracy).toBe(gpu.tasks[0][side].answer_accuracy);
    }
    // It learned something in 4 iterations (not a comparison of two untrained adapters).
    const base = JSON.parse(readFileSync(join(torchOut, 'base/n16_s0.json'), 'utf8'));
    expect(torch.tasks[0].shared.loss).toBeLessThan(base.tasks[0].shared.loss - 0.5);

    const second = await cli(...withTorch());
    expect(second.stderr).toMatch(/\[1\/1\] lora_n16_s0 {2}done earlier/);
    expect(second.stderr).not.toMatch(/\[pytorch\]/);
  }, 300_000);

  it('--engine pytorch says what is missing when the interpreter cannot be started', async () => {
    rmSync(torchOut, { recursive: true, force: true });
    const failed = await cli(...withTorch('/nonexistent/python3')).catch((e: { stderr: string }) => e);
    expect('stderr' in failed && failed.stderr).toMatch(
      /cannot start \/nonexistent\/python3 .*--engine pytorch needs Python 3 with torch and numpy/,
    );
  }, 120_000);
});
