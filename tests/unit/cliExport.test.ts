// `cli export`, and `cli logits` / `cli generate` with --adapter, as a user runs them (subprocesses, Dawn) on
// an adapter that `cli train` wrote for the real stories260K: a PEFT zip with the training report (data counts
// from the checkpoint), a GGUF LoRA against an overriding --base, a merged F32 GGUF whose logits equal those of
// the base with --adapter, --out lora.gguf as one file, the PyTorch recipe rebuilt from the run's tasks.json (its
// train.py rerunning the run), MTL-LoRA's per-task files (a folder, said so, for a .gguf path) and its --task
// rules, and clear usage errors.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memorySource } from '../../src/io/byteSource';
import { readGguf } from '../../src/io/gguf';
import { parseMetricsJsonl } from '../../src/train/metrics';
import { relError } from '../helpers/exportFixtures';
import { sharedPath } from '../helpers/shared';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

const BIN = sharedPath('models/stories260K/stories260K.bin');
const GGUF = sharedPath('models/stories260K/stories260K.gguf');
const task = (name: string) => ['--task', `${name}=public/demo/stories/${name}.jsonl`];
/** A few big steps on small batches: seconds here, and B moves well away from zero. */
const SMALL = [
  '--examples-per-task',
  '8',
  '--eval-examples-per-task',
  '2',
  '--batch-size',
  '2',
  '--rank',
  '4',
  '--eval-every',
  '0',
  '--lr',
  '0.02',
  '--warmup-steps',
  '0',
  '--targets',
  'q,k,v,o,gate,up,down',
];
const TOKENS = '1,403,407,261,378,275,342';
const out = mkdtempSync(join(tmpdir(), 'cli-export-'));
const lora = join(out, 'lora');
const mtl = join(out, 'mtl');
afterAll(() => rmSync(out, { recursive: true, force: true }));

beforeAll(async () => {
  await Promise.all([
    cli(
      'train',
      BIN,
      ...task('colors'),
      ...task('animals'),
      '--method',
      'lora',
      '--iterations',
      '3',
      ...SMALL,
      '--out',
      lora,
    ),
    cli(
      'train',
      BIN,
      ...task('colors'),
      ...task('animals'),
      '--method',
      'mtl-lora',
      '--iterations',
      '2',
      ...SMALL,
      '--out',
      mtl,
    ),
  ]);
});

const logitsOf = (file: string): Float64Array[] =>
  (JSON.parse(readFileSync(file, 'utf8')).logits as number[][]).map((r) => Float64Array.from(r));

describe('cli export on a LoRA trained by cli train', () => {
  it('peft to a zip, gguf against --base, merged F32 GGUF matching logits --adapter; generate --adapter', async () => {
    const [peft, gguf, merged, single] = await Promise.all([
      cli('export', lora, '--format', 'peft', '--out', join(out, 'peft.zip')),
      cli('export', lora, '--format', 'gguf', '--base', GGUF, '--out', join(out, 'gguf')),
      cli('export', lora, '--format', 'merged-gguf', '--dtype', 'f32', '--out', join(out, 'merged')),
      cli('export', lora, '--format', 'gguf', '--out', join(out, 'lora.gguf')),
    ]);
    expect(JSON.parse(peft.stdout).files.map((f: { name: string }) => f.name)).toEqual([
      'adapter_model.safetensors',
      'adapter_config.json',
      'training_report.json',
      'training_metrics.csv',
    ]);
    expect(peft.stderr).toMatch(/note: Q\/K lora_B rows were reordered/);
    const zip = unzipSync(new Uint8Array(readFileSync(join(out, 'peft.zip'))));
    expect(JSON.parse(new TextDecoder().decode(zip['adapter_config.json']))).toMatchObject({
      peft_type: 'LORA',
      r: 4,
      base_model_name_or_path: BIN,
    });
    const report = JSON.parse(new TextDecoder().decode(zip['training_report.json']));
    expect(report).toMatchObject({
      method: 'lora',
      seed: 0,
      tasks: ['colors', 'animals'],
      data: [
        { task: 'colors', train: 8 },
        { task: 'animals', train: 8 },
      ],
      iterations: { planned: 3, logged: 3 },
    });
    expect(new TextDecoder().decode(zip['training_metrics.csv']).trim().split('\n').length).toBe(
      1 + report.metrics.length,
    );

    expect(JSON.parse(gguf.stdout).notes).toEqual([]);
    const adapterGguf = await readGguf(memorySource(new Uint8Array(readFileSync(join(out, 'gguf', 'adapter.gguf')))));
    expect(adapterGguf.metadata.get('general.type')).toBe('adapter');
    expect(adapterGguf.tensors.length).toBe(5 * 7 * 2);
    expect(existsSync(join(out, 'gguf', 'training_report.json'))).toBe(true);

    // --out lora.gguf: that one file (the same adapter), the report beside it.
    expect(statSync(join(out, 'lora.gguf')).isFile()).toBe(true);
    const singleGguf = await readGguf(memorySource(new Uint8Array(readFileSync(join(out, 'lora.gguf')))));
    expect(singleGguf.tensors.map((t) => t.name)).toEqual(adapterGguf.tensors.map((t) => t.name));
    expect(JSON.parse(single.stdout).files.map((f: { path: string }) => f.path)).toEqual([
      join(out, 'lora.gguf'),
      join(out, 'lora.training_report.json'),
      join(out, 'lora.training_metrics.csv'),
    ]);
    expect(JSON.parse(readFileSync(join(out, 'lora.training_report.json'), 'utf8'))).toMatchObject({ method: 'lora' });

    expect(JSON.parse(merged.stdout).files[0]).toMatchObject({ name: 'model-f32.gguf' });
    const [fromAdapter, fromMerged, fromBase] = ['adapter', 'merged', 'base'].map((k) => join(out, `${k}.json`));
    await Promise.all([
      cli('logits', BIN, '--adapter', lora, '--tokens', TOKENS, '--json', fromAdapter),
      cli('logits', join(out, 'merged', 'model-f32.gguf'), '--tokens', TOKENS, '--json', fromMerged),
      cli('logits', BIN, '--tokens', TOKENS, '--json', fromBase),
    ]);
    const effect = relError(logitsOf(fromBase), logitsOf(fromAdapter));
    const error = relError(logitsOf(fromMerged), logitsOf(fromAdapter));
    console.log(`merged F32 GGUF vs --adapter: ${error.toExponential(2)} (adapter effect ${effect.toExponential(2)})`);
    expect(effect).toBeGreaterThan(1e-2);
    expect(error).toBeLessThanOrEqual(1e-4);

    const gen = await cli(
      'generate',
      BIN,
      '--adapter',
      lora,
      '--prompt',
      'Once upon a time',
      '--max-tokens',
      '4',
      '--greedy',
    );
    expect(gen.stdout.startsWith('Once upon a time')).toBe(true);
    expect(gen.stderr).toMatch(/^\d tokens, .*greedy/m);
  });

  it("pytorch: a recipe from the run's tasks.json; python train.py reproduces cli train's metrics", async () => {
    const recipe = join(out, 'recipe');
    const { stdout } = await cli('export', lora, '--format', 'pytorch', '--out', recipe);
    expect(JSON.parse(stdout).files.map((f: { name: string }) => f.name)).toEqual([
      'train.py',
      'adapter_init.safetensors',
      'data.json',
      'schedule.json',
      'base/model.safetensors',
      'base/config.json',
      'run.json',
      'README.md',
      'training_report.json',
      'training_metrics.csv',
    ]);
    const data = JSON.parse(readFileSync(join(recipe, 'data.json'), 'utf8')) as {
      tasks: { name: string; train: unknown[]; eval: unknown[] }[];
    };
    expect(data.tasks.map((t) => [t.name, t.train.length, t.eval.length])).toEqual([
      ['colors', 8, 2],
      ['animals', 8, 2],
    ]);
    expect(JSON.parse(readFileSync(join(recipe, 'schedule.json'), 'utf8')).iterations.length).toBe(3);
    await run('/usr/bin/python3', [join(recipe, 'train.py'), '--out', join(out, 'torch')], { encoding: 'utf8' });
    const ours = parseMetricsJsonl(readFileSync(join(lora, 'metrics.jsonl'), 'utf8'));
    const theirs = parseMetricsJsonl(readFileSync(join(out, 'torch', 'metrics.jsonl'), 'utf8'));
    expect(theirs.map((r) => [r.iteration, r.task])).toEqual(ours.map((r) => [r.iteration, r.task]));
    ours.forEach((r, i) => {
      for (const f of ['query_loss', 'eval_loss'] as const) {
        if (typeof r[f] === 'number')
          expect(Math.abs(theirs[i][f]! - r[f]!) / r[f]!, `${f} row ${i}`).toBeLessThan(1e-4);
      }
    });
  });
});

describe('cli export on MTL-LoRA, and errors', () => {
  it('gguf exports every task; merged formats and --adapter runs need --task', async () => {
    const exported = await cli('export', mtl, '--format', 'gguf', '--out', join(out, 'mtl.gguf'));
    const all = JSON.parse(exported.stdout);
    expect(all.files.map((f: { name: string }) => f.name)).toEqual([
      'adapter-colors.gguf',
      'adapter-animals.gguf',
      'training_report.json',
      'training_metrics.csv',
    ]);
    // Several files for a .gguf path: a folder there, said clearly.
    expect(exported.stderr).toMatch(
      /note: the gguf export is 2 files \(adapter-colors\.gguf, adapter-animals\.gguf\), so .*mtl\.gguf is a folder/,
    );
    expect(statSync(join(out, 'mtl.gguf', 'adapter-animals.gguf')).isFile()).toBe(true);
    const json = join(out, 'mtl.json');
    await cli('logits', BIN, '--adapter', mtl, '--task', 'animals', '--tokens', TOKENS, '--json', json);
    expect(logitsOf(json).length).toBe(7);
    const cases: [string[], RegExp][] = [
      [
        ['export', mtl, '--format', 'merged-gguf', '--out', join(out, 'x')],
        /merges one task: choose one of colors, animals/,
      ],
      [
        ['logits', BIN, '--adapter', mtl, '--tokens', '1', '--json', json],
        /needs --task NAME \(one of colors, animals\)/,
      ],
      [
        ['logits', BIN, '--adapter', lora, '--task', 'colors', '--tokens', '1', '--json', json],
        /--task applies to MTL-LoRA adapters/,
      ],
      [
        ['export', lora, '--out', join(out, 'x')],
        /--format must be one of peft, gguf, merged-safetensors, merged-gguf/,
      ],
      [['export', lora, '--format', 'gguf'], /--out PATH is required/],
      [
        ['export', lora, '--format', 'merged-gguf', '--dtype', 'q4', '--out', join(out, 'x')],
        /--dtype q4: expected f32, f16, bf16 or q8_0/,
      ],
      [
        ['export', lora, '--format', 'gguf', '--base', join(out, 'nope.gguf'), '--out', join(out, 'x')],
        /nope\.gguf \(--base\) does not exist/,
      ],
      [
        ['export', join(out, 'missing'), '--format', 'gguf', '--out', join(out, 'x')],
        /adapter_config\.json: cannot read the adapter config/,
      ],
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
