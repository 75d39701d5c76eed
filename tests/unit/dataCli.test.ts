// The CLI's task reading (src/cli/train.ts readTaskArgs/buildTasks, shared by train and eval) on files of every
// format: detection, the dataset flags (--schema, --template, --completion, --labels, --task-column,
// --max-length-policy, --keep-duplicates), each file's report on stderr, and clear errors before any model
// loads; then one real `train` + `eval` on the instruct demo (CSV + TSV) with stories260K.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTasks, readTaskArgs } from '../../src/cli/train';
import { type ByteSource, fileSource } from '../../src/io/byteSource';
import { readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import { sharedPath } from '../helpers/shared';

const dir = mkdtempSync(join(tmpdir(), 'data-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const DEMO = 'public/demo/instruct';

let src: ByteSource;
let tok: ScoredBpeTokenizer;
beforeAll(async () => {
  src = await fileSource(sharedPath('models/stories260K/tok512.bin'));
  tok = new ScoredBpeTokenizer(await readLlama2cTokenizer(src, 512));
});
afterAll(() => src.close?.());

describe('readTaskArgs / buildTasks', () => {
  let stderr: string[];
  beforeAll(() => {
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      stderr.push(args.join(' '));
    });
  });
  afterEach(() => {
    stderr = [];
  });
  afterAll(() => vi.restoreAllMocks());
  stderr = [];

  const build = async (flags: Parameters<typeof readTaskArgs>[0], maxLength = 256) =>
    buildTasks(await readTaskArgs(flags, 'usage'), flags, { tokenizer: tok, maxLength, eos: true });

  it('reads any format, names tasks by NAME (or the task column) and prints each report', async () => {
    const mixed = file('mixed.csv', 'task,question,answer\nmath,1+1?,2\ngeo,Capital of Peru?,Lima\nmath,1+1?,2\n');
    const tasks = await build({ task: [`yn=${DEMO}/yesno.tsv`, `caps=${DEMO}/capitals.json`, `all=${mixed}`] });
    expect(tasks.map((t) => [t.name, t.examples.length])).toEqual([
      ['yn', 90],
      ['caps', 94],
      ['math', 1],
      ['geo', 1],
    ]);
    expect(tasks[0].examples[0].choices).toEqual([' yes', ' no']);
    expect(stderr).toEqual([
      '--task yn: yesno.tsv: TSV with header, schema question-answer; 90 rows: 90 used, 0 skipped; tasks: yn 90 (multiple choice)',
      '--task caps: capitals.json: JSON, schema alpaca; 94 rows: 94 used, 0 skipped; tasks: caps 94',
      '--task all: mixed.csv: CSV with header, schema question-answer; 3 rows: 2 used, 1 skipped, 1 duplicate dropped [duplicate 1]; ' +
        'tasks: math 1, geo 1\n  line 4: duplicate, skipped: same prompt and completion as line 2',
    ]);
  });

  it('applies the dataset flags to every file', async () => {
    const [arith] = await build({
      task: [`a=${DEMO}/arithmetic.jsonl`],
      schema: 'gsm8k-final',
      template: 'Q: {question}\\nA:',
    });
    expect(arith.examples[0]).toMatchObject({
      prompt: expect.stringMatching(/^Q: .*\?\nA:$/),
      completion: expect.stringMatching(/^ \d+$/),
    });
    const [custom] = await build({
      task: [`s=${DEMO}/sentiment.csv`],
      completion: ' It was {label}.',
      labels: 'positive=good,negative=bad',
    });
    expect(custom.examples[0].choices).toEqual([' It was good.', ' It was bad.']);
    const perFile = await build({
      task: [`m=${file('t.csv', 'task,question,answer\nx,q,a\n')}`],
      'task-column': 'none',
    });
    expect(perFile.map((t) => t.name)).toEqual(['m']);
    const dup = await build({ task: [`d=${file('d.csv', 'question,answer\nq,a\nq,a\n')}`], 'keep-duplicates': true });
    expect(dup[0].examples.length).toBe(2);
    const short = await build({ task: [`s=${DEMO}/sentiment.csv`], 'max-length-policy': 'skip' }, 56);
    expect(short[0].examples.length).toBeLessThan(92);
    expect(stderr[stderr.length - 1]).toMatch(
      /92 rows: \d+ used, \d+ skipped \[too-long \d+\]; tasks: s \d+ \(multiple choice\)\n {2}line \d+: too-long, skipped: \d+ tokens, over the maximum of 56/,
    );
  });

  it('fails clearly, before any model is needed', async () => {
    const cases: [Parameters<typeof readTaskArgs>[0], RegExp][] = [
      [{}, /at least one --task NAME=FILE is required/],
      [{ task: ['x'] }, /--task x: expected NAME=FILE \(a JSONL, JSON, CSV or TSV file of examples\)/],
      [{ task: [`x=${dir}/missing.csv`] }, /--task x: cannot read .*missing\.csv \(ENOENT\)/],
      [
        { task: [`x=${sharedPath('models/stories260K/stories260K.gguf')}`] },
        /--task x: stories260K\.gguf is a GGUF model file/,
      ],
      [{ task: [`x=${DEMO}/yesno.tsv`], schema: 'nope' }, /--task x: unknown schema "nope"/],
      [
        { task: [`x=${DEMO}/yesno.tsv`], schema: 'nli' },
        /--task x: yesno\.tsv: schema "nli" needs the columns premise, hypothesis, label/,
      ],
      [
        { task: [`x=${DEMO}/yesno.tsv`], template: '{question} {hint}' },
        /--task x: yesno\.tsv: the prompt template's field "hint" is not a column/,
      ],
      [
        { task: [`x=${DEMO}/capitals.json`], labels: 'a=b' },
        /--task x: --labels needs a classification schema \(capitals\.json is alpaca\)/,
      ],
      [
        { task: [`x=${DEMO}/yesno.tsv`], 'max-length-policy': 'maybe' },
        /--max-length-policy maybe: expected truncate or skip/,
      ],
      [{ task: [`x=${file('empty.jsonl', '')}`] }, /--task x: empty\.jsonl is empty\./],
    ];
    for (const [flags, message] of cases)
      await expect(readTaskArgs(flags, 'usage'), JSON.stringify(flags)).rejects.toThrow(message);
    await expect(build({ task: [`x=${DEMO}/yesno.tsv`], 'chat-template': true })).rejects.toThrow(
      /this model has no chat template/,
    );
  });
});

describe('cli train / eval on CSV and TSV tasks', () => {
  const run = promisify(execFile);
  const cli = (...args: string[]) =>
    run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });
  const BIN = sharedPath('models/stories260K/stories260K.bin');
  const tasks = [
    '--task',
    `sentiment=${DEMO}/sentiment.csv`,
    '--task',
    `yesno=${DEMO}/yesno.tsv`,
    '--max-seq-len',
    '56',
    '--max-length-policy',
    'skip',
  ];

  it('trains on them, reporting each file, and evaluates the held-out examples with choice accuracy', async () => {
    const out = join(dir, 'run');
    const train = await cli(
      'train',
      BIN,
      ...tasks,
      '--method',
      'meta-lora',
      '--iterations',
      '1',
      '--examples-per-task',
      '8',
      '--eval-examples-per-task',
      '2',
      '--support-size',
      '2',
      '--query-size',
      '2',
      '--inner-steps',
      '1',
      '--targets',
      'q',
      '--rank',
      '2',
      '--eval-every',
      '0',
      '--out',
      out,
    );
    expect(train.stderr).toMatch(
      /--task sentiment: sentiment\.csv: CSV with header, schema sentiment; 92 rows: \d+ used, \d+ skipped \[too-long \d+\]/,
    );
    expect(train.stderr).toMatch(/--task yesno: yesno\.tsv: TSV with header, schema question-answer; 90 rows: /);
    expect(train.stderr).toMatch(
      /training meta-lora on sentiment \(8 train, 2 held out\), yesno \(8 train, 2 held out\)/,
    );
    // eval takes the maximum length from the adapter's settings, and the same dataset flags.
    const { stdout } = await cli('eval', BIN, '--adapter', out, ...tasks.slice(0, 2), '--max-length-policy', 'skip');
    const report = JSON.parse(stdout);
    expect(report.tasks).toEqual([
      expect.objectContaining({ task: 'sentiment', kind: 'multiple-choice', split: 'held-out', examples: 2 }),
    ]);
    expect(report.tasks[0].adapter.choice_accuracy).toBeGreaterThanOrEqual(0);

    // train records each task's mapping beside the adapter, and eval (given no mapping flags) reads with it.
    const recorded = JSON.parse(readFileSync(join(out, 'tasks.json'), 'utf8'));
    expect(recorded.map((t: { name: string; mapping: { schema: string } }) => [t.name, t.mapping.schema])).toEqual([
      ['sentiment', 'sentiment'],
      ['yesno', 'question-answer'],
    ]);
    recorded[0].mapping.prompt = 'Review: {no_such_column}';
    writeFileSync(join(out, 'tasks.json'), JSON.stringify(recorded));
    await expect(cli('eval', BIN, '--adapter', out, ...tasks.slice(0, 2))).rejects.toThrow(/no_such_column/);
  });
});
