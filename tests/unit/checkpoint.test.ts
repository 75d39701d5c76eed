// Checkpoints: exact round trip of every part, refusal of mismatched halves, the directory store's
// crash-safe save (temp + rename, commit by checkpoint.json), and capture/restore of GPU tensors.

import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { concatParts } from '../../src/io/ggufWriter';
import {
  type Checkpoint,
  CheckpointError,
  deserializeCheckpoint,
  readNamedTensors,
  serializeCheckpoint,
  writeNamedTensors,
} from '../../src/train/checkpoint';
import { directoryCheckpointStore, loadCheckpoint, saveCheckpoint } from '../../src/train/checkpointStore';
import { MetaEpisodeSampler } from '../../src/train/episodes';
import { Rng } from '../../src/util/rng';
import { resolveSettings } from '../../src/train/settings';
import { gpu } from '../helpers/gpu';

/** Values whose bits a lossy path would change: −0, subnormals, extremes, NaN with a payload, ±∞. */
function awkward(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  const r = Rng.fromSeed(seed);
  for (let i = 0; i < n; i++) a[i] = (r.next() - 0.5) * 10 ** (r.int(20) - 10);
  const u = new Uint32Array(a.buffer);
  u[0] = 0x80000000;
  u[1] = 0x00000001;
  u[2] = 0x7f7fffff;
  u[3] = 0x7fc01234;
  u[4] = 0xff800000;
  return a;
}

function sample(iteration = 12): Checkpoint {
  const shapes: [string, number[]][] = [
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight', [8, 13]],
    ['base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight', [17, 8]],
    ['mtl.task_1.w', [3]],
  ];
  const sampler = new MetaEpisodeSampler(
    [10, 12],
    { tasksPerIteration: 2, supportSize: 4, querySize: 4 },
    Rng.fromSeed(1),
  );
  sampler.next();
  return {
    iteration,
    settings: resolveSettings('meta-lora', { seed: 3 }),
    tasks: [
      { name: 'add', poolSize: 10 },
      { name: 'sub', poolSize: 12 },
    ],
    params: shapes.map(([name, shape], i) => ({ name, shape, data: awkward(shape[0] * (shape[1] ?? 1), i) })),
    optimizer: {
      step: iteration,
      m: shapes.map(([, shape], i) => awkward(shape[0] * (shape[1] ?? 1), 10 + i)),
      v: shapes.map(([, shape], i) => awkward(shape[0] * (shape[1] ?? 1), 20 + i)),
    },
    rng: { dropout: Rng.fromSeed(5).derive('dropout').getState() },
    sampler: sampler.getState(),
    metrics: [
      { iteration: 1, task: 'add', support_loss: 2.5, query_loss: 2.25, lr: 1e-5, tokens_per_s: 321.5 },
      {
        iteration: 1,
        task: 'mean',
        support_loss: null,
        query_loss: 2.25,
        lr: 1e-5,
        tokens_per_s: 321.5,
        grad_norm: 0.5,
      },
    ],
  };
}

const bits = (a: Float32Array) => [...new Uint32Array(a.buffer, a.byteOffset, a.length)];

function expectSame(a: Checkpoint, b: Checkpoint): void {
  expect({ ...b, params: [], optimizer: null }).toEqual({ ...a, params: [], optimizer: null });
  expect(b.params.map((p) => [p.name, p.shape])).toEqual(a.params.map((p) => [p.name, p.shape]));
  a.params.forEach((p, i) => {
    expect(bits(b.params[i].data)).toEqual(bits(p.data));
    expect(bits(b.optimizer.m[i])).toEqual(bits(a.optimizer.m[i]));
    expect(bits(b.optimizer.v[i])).toEqual(bits(a.optimizer.v[i]));
  });
  expect(b.optimizer.step).toBe(a.optimizer.step);
}

const dirs: string[] = [];
afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'metalora-ckpt-'));
  dirs.push(d);
  return d;
}

describe('checkpoint serialisation', () => {
  it('reads back every part exactly, bit for bit', async () => {
    const ck = sample();
    const s = serializeCheckpoint(ck);
    expectSame(ck, await deserializeCheckpoint(s.json, concatParts(s.tensors)));
  });

  it('refuses tensors from another save, other formats and missing tensors', async () => {
    const a = serializeCheckpoint(sample());
    const b = serializeCheckpoint(sample());
    expect(a.id).not.toBe(b.id);
    await expect(deserializeCheckpoint(a.json, concatParts(b.tensors))).rejects.toThrow(/different saves/);
    await expect(deserializeCheckpoint('{"format":"x"}', concatParts(a.tensors))).rejects.toThrow(CheckpointError);
    await expect(deserializeCheckpoint('{', concatParts(a.tensors))).rejects.toThrow(/not valid JSON/);
    const renamed = a.json.replace('mtl.task_1.w', 'mtl.task_2.w');
    await expect(deserializeCheckpoint(renamed, concatParts(a.tensors))).rejects.toThrow(/lack param\/mtl.task_2.w/);
    // Found by fuzzing (fuzzTrainingFiles.test.ts): one flipped bit in a key returned a checkpoint without tasks.
    const damaged = a.json.replace('"tasks"', '"tqsks"').replace('"kind"', '"kinf"');
    await expect(deserializeCheckpoint(damaged, concatParts(a.tensors))).rejects.toThrow(
      /checkpoint JSON is damaged: tasks, sampler are missing or malformed/,
    );
    const bad = sample();
    bad.optimizer.v.pop();
    expect(() => serializeCheckpoint(bad)).toThrow(/2\/3|3\/2/);
  });
});

describe('directory checkpoint store', () => {
  it('saves and loads, keeping only the latest tensors file', async () => {
    const dir = await tempDir();
    const store = directoryCheckpointStore(dir);
    expect(await loadCheckpoint(store)).toBeNull();
    await saveCheckpoint(store, sample(1));
    const last = sample(2);
    await saveCheckpoint(store, last);
    expectSame(last, (await loadCheckpoint(store))!);
    const files = (await readdir(dir)).sort();
    expect(files).toHaveLength(2);
    expect(files[0]).toMatch(/^checkpoint-2-[0-9a-f]{12}\.safetensors$/);
    expect(files[1]).toBe('checkpoint.json');
  });

  it('still loads the last good checkpoint after a save interrupted at any point', async () => {
    const dir = await tempDir();
    const store = directoryCheckpointStore(dir);
    const good = sample(5);
    await saveCheckpoint(store, good);
    const next = serializeCheckpoint(sample(6));
    // Crash while writing the new tensors (a partial temp file) …
    await writeFile(join(dir, `checkpoint-${next.id}.safetensors.tmp`), concatParts(next.tensors).subarray(0, 100));
    expectSame(good, (await loadCheckpoint(store))!);
    // … or after renaming them but before checkpoint.json was replaced, with its temp half written.
    await writeFile(join(dir, `checkpoint-${next.id}.safetensors`), concatParts(next.tensors));
    await writeFile(join(dir, 'checkpoint.json.tmp'), next.json.slice(0, 50));
    expectSame(good, (await loadCheckpoint(store))!);
    // The next completed save cleans up the leftovers.
    const later = sample(7);
    await saveCheckpoint(store, later);
    expectSame(later, (await loadCheckpoint(store))!);
    expect((await readdir(dir)).filter((f) => f.includes('.safetensors'))).toHaveLength(1);
  });

  it('explains a checkpoint.json whose tensors file is gone', async () => {
    const dir = await tempDir();
    const store = directoryCheckpointStore(dir);
    await saveCheckpoint(store, sample());
    const [tensors] = (await readdir(dir)).filter((f) => f.endsWith('.safetensors'));
    await rm(join(dir, tensors));
    await expect(loadCheckpoint(store)).rejects.toThrow(/cannot read the checkpoint's tensors/);
  });
});

describe('GPU capture and restore', () => {
  it('reads adapter tensors into a checkpoint and writes them back into fresh tensors', async () => {
    const ctx = await gpu();
    const ck = sample();
    const names = ck.params.map((p) => p.name);
    const src = ck.params.map((p) => ctx.upload(p.data, p.shape));
    const read = await readNamedTensors(ctx, names, src);
    const saved = serializeCheckpoint({ ...ck, params: read });
    const restored = await deserializeCheckpoint(saved.json, concatParts(saved.tensors));
    const dst = ck.params.map((p) => ctx.tensor(p.shape));
    writeNamedTensors(ctx, names, dst, restored.params);
    for (let i = 0; i < dst.length; i++) expect(bits(await ctx.read(dst[i]))).toEqual(bits(ck.params[i].data));
    expect(() => writeNamedTensors(ctx, names, dst, [...restored.params].reverse())).toThrow(/does not match/);
    expect(() => writeNamedTensors(ctx, names, dst.slice(1), restored.params)).toThrow(/different adapter settings/);
    [...src, ...dst].forEach((t) => t.release());
  });
});
