// `cli train` and `cli eval` as a user runs them (subprocess, Dawn) on the real stories260K with the demo
// tasks: the files docs/DESIGN.md §3 promises (metrics.jsonl, a PEFT adapter, the checkpoint), --resume, the
// evaluation JSON against the base model, MTL-LoRA through both commands, and clear usage errors.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { memorySource } from '../../src/io/byteSource';
import { readSafetensors } from '../../src/io/safetensors';
import { parseMetricsJsonl } from '../../src/train/metrics';
import { sharedPath } from '../helpers/shared';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

const BIN = sharedPath('models/stories260K/stories260K.bin');
const task = (name: string) => ['--task', `${name}=public/demo/stories/${name}.jsonl`];
/** Small episodes and pools: a few seconds per command on SwiftShader. */
const SMALL = [
  '--examples-per-task',
  '8',
  '--eval-examples-per-task',
  '4',
  '--tasks-per-iteration',
  '2',
  '--support-size',
  '2',
  '--query-size',
  '2',
  '--inner-steps',
  '1',
  '--batch-size',
  '2',
  '--targets',
  'q,v',
  '--rank',
  '4',
  '--eval-every',
  '0',
];
const out = mkdtempSync(join(tmpdir(), 'cli-train-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('cli train / eval on stories260K', () => {
  it('meta-lora: metrics, PEFT adapter and checkpoint; --resume continues; eval reports adapter and base', async () => {
    const dir = join(out, 'meta');
    const first = await cli(
      'train',
      BIN,
      ...task('colors'),
      ...task('animals'),
      '--method',
      'meta-lora',
      '--iterations',
      '3',
      '--seed',
      '7',
      ...SMALL,
      '--out',
      dir,
    );
    expect(first.stderr).toMatch(/iter 3\/3 {2}query \d/);
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      target_modules: ['q_proj', 'v_proj'],
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: false,
      base_model_name_or_path: BIN,
      inference_mode: true,
      metalora: { method: 'meta-lora', tasks: ['colors', 'animals'] },
    });
    const bytes = new Uint8Array(readFileSync(join(dir, 'adapter_model.safetensors')));
    const st = await readSafetensors(memorySource(bytes));
    expect(st.metadata).toEqual({ format: 'pt' });
    // stories260K: 5 layers, dim 64, 8 heads of 8, 4 KV heads → q out 64, v out 32.
    expect(st.tensors.length).toBe(5 * 2 * 2);
    const shape = (name: string) => st.tensors.find((t) => t.name === name)?.shape;
    expect(shape('base_model.model.model.layers.4.self_attn.q_proj.lora_A.weight')).toEqual([4, 64]);
    expect(shape('base_model.model.model.layers.4.self_attn.v_proj.lora_B.weight')).toEqual([32, 4]);
    expect(existsSync(join(dir, 'checkpoint.json'))).toBe(true);
    const rows = parseMetricsJsonl(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'));
    const training = rows.filter((r) => r.eval_loss === undefined);
    expect(training.length).toBe(3 * 3);
    expect(training.every((r) => r.query_loss! > 0 && r.support_loss! > 0 && r.lr > 0 && r.tokens_per_s > 0)).toBe(
      true,
    );
    expect(rows.filter((r) => r.eval_loss !== undefined).map((r) => r.task)).toEqual(['colors', 'animals', 'mean']);

    await expect(
      cli('train', BIN, ...task('colors'), ...task('animals'), '--iterations', '3', ...SMALL, '--out', dir),
    ).rejects.toMatchObject({ stderr: expect.stringMatching(/already holds a training checkpoint: pass --resume/) });
    const resumed = await cli(
      'train',
      BIN,
      ...task('colors'),
      ...task('animals'),
      '--method',
      'meta-lora',
      '--iterations',
      '5',
      '--seed',
      '7',
      ...SMALL,
      '--out',
      dir,
      '--resume',
    );
    expect(resumed.stderr).toMatch(/resumed from the checkpoint at iteration 3/);
    const after = parseMetricsJsonl(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'));
    expect(after.slice(0, 9)).toEqual(rows.slice(0, 9));
    expect(after.filter((r) => r.task === 'mean' && r.eval_loss === undefined).map((r) => r.iteration)).toEqual([
      1, 2, 3, 4, 5,
    ]);

    // A generation task the adapter never saw: test-time adaptation takes k = |S| = 2 of its 5 examples and the
    // other 3 are scored (with --no-adapt all 5 would be).
    const routine5 = join(out, 'routine5.jsonl');
    writeFileSync(
      routine5,
      readFileSync('public/demo/stories/routine.jsonl', 'utf8').split('\n').slice(0, 5).join('\n'),
    );
    const { stdout } = await cli('eval', BIN, '--adapter', dir, ...task('colors'), '--task', `routine=${routine5}`);
    const report = JSON.parse(stdout);
    expect(report.method).toBe('meta-lora');
    const [colors, routine] = report.tasks;
    expect(colors).toMatchObject({ task: 'colors', kind: 'multiple-choice', split: 'held-out', examples: 4 });
    expect(routine).toMatchObject({ task: 'routine', kind: 'generation', split: 'held-out', examples: 3 });
    for (const r of [colors, routine]) {
      for (const side of [r.adapter, r.base, r.adapted]) {
        expect(side.loss).toBeGreaterThan(side.loss_no_eos); // stories260K's EOS target is the hardest token
        for (const m of ['exact_match', 'starts_with', 'answer_accuracy']) expect(typeof side[m]).toBe('number');
      }
      // Training moved the adapter, so its loss differs from the base model's; adaptation moved it again.
      expect(r.adapter.loss).not.toBe(r.base.loss);
      expect(r.adapted.loss).not.toBe(r.adapter.loss);
    }
    expect(colors.adapter.choice_accuracy).toBeGreaterThanOrEqual(0);
    expect(routine.adapter.choice_accuracy).toBeNull();
  });

  it('mtl-lora: its own tensors and config, evaluated per task id', async () => {
    const dir = join(out, 'mtl');
    await cli(
      'train',
      BIN,
      ...task('feelings'),
      ...task('animals'),
      '--method',
      'mtl-lora',
      '--iterations',
      '2',
      ...SMALL,
      '--mtl-up-projections',
      '2',
      '--out',
      dir,
    );
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({
      peft_type: 'MTL_LORA',
      metalora: { method: 'mtl-lora', tasks: ['feelings', 'animals'] },
    });
    const st = await readSafetensors(
      memorySource(new Uint8Array(readFileSync(join(dir, 'adapter_model.safetensors')))),
    );
    expect(
      st.tensors.find((t) => t.name === 'base_model.model.model.layers.0.self_attn.q_proj.mtl_lora_B.weight')?.shape,
    ).toEqual([2, 64, 4]);
    const report = JSON.parse((await cli('eval', BIN, '--adapter', dir, ...task('animals'))).stdout);
    expect(report.tasks[0]).toMatchObject({ task: 'animals', kind: 'multiple-choice', split: 'held-out' });
    await expect(cli('eval', BIN, '--adapter', dir, ...task('colors'))).rejects.toMatchObject({
      stderr: expect.stringMatching(/trained on feelings, animals only/),
    });
  });

  it('fails clearly on bad input', async () => {
    const dir = join(out, 'never');
    const cases: [string[], RegExp][] = [
      [['train', BIN, ...task('colors')], /--out DIR is required/],
      [['train', BIN, '--out', dir], /at least one --task NAME=FILE is required/],
      [['train', BIN, '--task', 'colors', '--out', dir], /--task colors: expected NAME=FILE/],
      [
        ['train', BIN, '--task', `x=${join(out, 'missing.jsonl')}`, '--out', dir],
        /--task x: cannot read .*missing\.jsonl \(ENOENT\)/,
      ],
      [['train', BIN, ...task('colors'), '--method', 'maml', '--out', dir], /method = "maml": must be one of/],
      [['train', BIN, ...task('colors'), '--inner-lr', 'fast', '--out', dir], /innerLr: "fast" is not a number/],
      [['train', BIN, ...task('colors'), '--preset', 'huge', '--out', dir], /unknown preset "huge"/],
      [['eval', BIN, ...task('colors')], /--adapter DIR is required/],
      [['eval', BIN, '--adapter', dir, ...task('colors')], /adapter_config\.json: cannot read the adapter config/],
    ];
    await Promise.all(
      cases.map(async ([args, message]) => {
        await expect(cli(...args), args.join(' ')).rejects.toMatchObject({
          code: 1,
          stderr: expect.stringMatching(message),
        });
      }),
    );
  });
});
