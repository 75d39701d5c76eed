// The app's engine (src/worker/engine.ts) driven in Node exactly as the worker drives it: load stories260K
// from picked files, train MeTA-LoRA on the demo tasks with pause / resume / stop from outside, resume the
// stopped run from its checkpoint to the same curve as an uninterrupted run, evaluate before and after,
// generate with and without the adapter, and refuse what a user could get wrong.

import { readFileSync } from 'node:fs';
import { unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context';
import { concatParts } from '../../src/io/ggufWriter';
import type { CheckpointStore, StoredCheckpoint } from '../../src/train/checkpointStore';
import type { MetricsRecord } from '../../src/train/metrics';
import { parseEvalTask } from '../../src/train/evaluate';
import { presetSettings } from '../../src/train/presets';
import { Engine } from '../../src/worker/engine';
import type { EngineEvent, TaskInput } from '../../src/worker/protocol';
import { gpu } from '../helpers/gpu';
import { sharedPath } from '../helpers/shared';

const stores = new Map<string, StoredCheckpoint>();
const memoryStore = (runId: string): CheckpointStore => ({
  async save(ck) {
    stores.set(runId, { json: ck.json, tensors: concatParts(ck.tensors) });
  },
  load: async () => stores.get(runId) ?? null,
});

const events: EngineEvent[] = [];
let engine: Engine;

const file = (path: string, name: string) => new File([readFileSync(path)], name);
const demo = (name: string): TaskInput =>
  parseEvalTask(name, readFileSync(`public/demo/stories/${name}.jsonl`, 'utf8'));
const tasks = [demo('animals'), demo('colors')];
const settings = presetSettings('demo', 'meta-lora', {
  iterations: 6,
  evalEvery: 0,
  checkpointEvery: 2,
  evalExamplesPerTask: 6,
});
const curve = (rows: MetricsRecord[]) =>
  rows.filter((r) => r.task === 'mean').map((r) => [r.iteration, r.query_loss, r.eval_loss]);
const metricsOf = (runId: string) =>
  events.flatMap((e) => (e.kind === 'metrics' && e.runId === runId && !e.restored ? e.rows : []));

beforeAll(async () => {
  engine = new Engine({
    gpu,
    checkpoints: memoryStore,
    deleteCheckpoint: async (id) => {
      stores.delete(id);
    },
    modelCache: () => {
      throw new Error('no downloads in this test');
    },
    emit: (e) => events.push(e),
  });
  const summary = await engine.loadModel(
    {
      kind: 'files',
      files: [
        file(sharedPath('models/stories260K/stories260K.bin'), 'stories260K.bin'),
        file(sharedPath('models/stories260K/tok512.bin'), 'tok512.bin'),
      ],
    },
    'keep',
  );
  expect(summary).toMatchObject({ format: 'llama2c', parameters: expect.any(Number), quant: 'keep' });
  expect(summary.config.dim).toBe(64);
  expect(events.some((e) => e.kind === 'progress' && e.phase === 'load')).toBe(true);
});
afterAll(() => events.splice(0));

describe('engine', () => {
  it('trains with pause, resume and stop from outside; the stopped run resumes to the uninterrupted curve', async () => {
    const straight = await engine.train({ runId: 'straight', settings, tasks, resume: false });
    expect(straight).toMatchObject({ status: 'done', iteration: 6 });

    let paused = false;
    const seen = (iteration: number) =>
      new Promise<void>((resolve) => {
        const poll = () =>
          metricsOf('interrupted').some((r) => r.iteration >= iteration) ? resolve() : setTimeout(poll, 5);
        poll();
      });
    const run = engine.train({ runId: 'interrupted', settings, tasks, resume: false });
    await seen(2);
    engine.control('interrupted', 'pause');
    // The pause takes effect after the iteration in progress, however long that takes under load.
    const isPaused = () =>
      events.some((e) => e.kind === 'runState' && e.runId === 'interrupted' && e.state === 'paused');
    while (!isPaused()) await new Promise((r) => setTimeout(r, 10));
    const atPause = Math.max(...metricsOf('interrupted').map((r) => r.iteration));
    paused = isPaused();
    await new Promise((r) => setTimeout(r, 300));
    expect(Math.max(...metricsOf('interrupted').map((r) => r.iteration))).toBe(atPause); // nothing ran while paused
    engine.control('interrupted', 'resume');
    await seen(atPause + 1);
    engine.control('interrupted', 'stop');
    const stopped = await run;
    expect(paused).toBe(true);
    expect(stopped.status).toBe('stopped');
    expect(stopped.iteration).toBeLessThan(6);
    expect(() => engine.control('interrupted', 'pause')).toThrow(/not training/);

    const resumed = await engine.train({ runId: 'interrupted', settings, tasks, resume: true });
    expect(resumed).toMatchObject({ status: 'done', iteration: 6, resumedFrom: stopped.iteration });
    expect(curve(metricsOf('interrupted'))).toEqual(curve(metricsOf('straight')));
    const gpuBytes = events.filter((e) => e.kind === 'metrics').map((e) => (e as { gpuBytes: number }).gpuBytes);
    expect(Math.min(...gpuBytes)).toBeGreaterThan(0);
  });

  it('evaluates the base and a run (from its checkpoint) on the held-out split', async () => {
    const base = await engine.evaluate({ runId: null, settings, tasks, accuracy: true, adapt: true });
    const after = await engine.evaluate({ runId: 'straight', settings, tasks, accuracy: true, adapt: true });
    expect(base.map((r) => [r.task, r.examples, r.kind, r.split])).toEqual([
      ['animals', 6, 'multiple-choice', 'held-out'],
      ['colors', 6, 'multiple-choice', 'held-out'],
    ]);
    expect(base.every((r) => r.adapted === null)).toBe(true); // the base model is not adapted
    for (const [i, r] of after.entries()) {
      expect(r.shared!.loss).not.toBe(base[i].shared!.loss); // the adapter changed the model
      expect(r.adapted!.loss).not.toBe(r.shared!.loss); // and test-time adaptation changed the adapter
    }
    console.log(
      'held-out loss before → after → adapted:',
      base
        .map(
          (r, i) =>
            `${r.task} ${r.shared!.loss!.toFixed(3)} → ${after[i].shared!.loss!.toFixed(3)} → ${after[i].adapted!.loss!.toFixed(3)}`,
        )
        .join(', '),
    );
  });

  it('reports a task without held-out examples as such and still evaluates the others', async () => {
    const small = { name: 'tiny', examples: tasks[0].examples.slice(0, 10) };
    const out = await engine.evaluate({
      runId: 'straight',
      settings,
      tasks: [tasks[0], small],
      accuracy: false,
      adapt: false,
    });
    expect(out[1]).toMatchObject({ task: 'tiny', split: 'none', shared: null });
    expect(out[1].note).toMatch(/none is held out/);
    expect(out[0].split).toBe('held-out');
    expect(out[0].shared!.loss).toBeGreaterThan(0);
  });

  it('generates with and without the adapter, streaming text', async () => {
    const spec = { task: 0, prompt: 'Once upon a time', maxNewTokens: 12 };
    const base = await engine.generate({ ...spec, runId: null }, 101);
    // llama.cpp's greedy continuation of this prompt (../shared/SOURCES.md).
    expect(base.text.startsWith(', there was a little girl named Lily')).toBe(true);
    const streamed = events.filter((e) => e.kind === 'text' && e.requestId === 101);
    expect(streamed.length).toBeGreaterThan(3);
    const tuned = await engine.generate({ ...spec, runId: 'straight' }, 102);
    expect(tuned.tokens).toBeGreaterThan(0);
    expect(tuned.text.length).toBeGreaterThan(0);
    // Adapted to a trained task and to one the run never saw: the adapter copy is adapted, the run's is untouched.
    const adapted = await engine.generate({ ...spec, runId: 'straight', adaptTo: tasks[1] }, 103);
    const unseen = await engine.generate({ ...spec, runId: 'straight', adaptTo: demo('feelings') }, 104);
    expect(adapted.tokens).toBeGreaterThan(0);
    expect(unseen.tokens).toBeGreaterThan(0);
    expect((await engine.generate({ ...spec, runId: 'straight' }, 105)).text).toBe(tuned.text);
  });

  it('exports a run: a PEFT zip with the report, a GGUF adapter on its own and in a zip', async () => {
    const metrics = metricsOf('straight');
    const dataCounts = { animals: { train: 16, eval: 6 }, colors: { train: 16, eval: 6 } };
    const peft = await engine.exportRun({ runId: 'straight', format: 'peft', metrics, dataCounts });
    expect(peft.downloads.map((d) => d.name)).toEqual(['stories260K.bin-peft.zip']);
    const zipped = unzipSync(peft.downloads[0].bytes);
    expect(Object.keys(zipped).sort()).toEqual(
      ['adapter_config.json', 'adapter_model.safetensors', 'training_metrics.csv', 'training_report.json'].sort(),
    );
    const config = JSON.parse(new TextDecoder().decode(zipped['adapter_config.json']));
    expect(config).toMatchObject({
      peft_type: 'LORA',
      r: settings.rank,
      lora_alpha: settings.loraAlpha,
      task_type: 'CAUSAL_LM',
    });
    const csv = new TextDecoder().decode(zipped['training_metrics.csv']).trim().split('\n');
    expect(csv.length).toBe(1 + metrics.length);

    const gguf = await engine.exportRun({ runId: 'straight', format: 'gguf', metrics, dataCounts });
    expect(gguf.downloads.map((d) => d.name)).toEqual(['adapter.gguf', 'stories260K.bin-gguf.zip']);
    expect(new TextDecoder().decode(gguf.downloads[0].bytes.subarray(0, 4))).toBe('GGUF');
    expect(unzipSync(gguf.downloads[1].bytes)['adapter.gguf']).toEqual(gguf.downloads[0].bytes);

    // The PyTorch recipe takes the run's tasks (the app sends its snapshot) and splits them as training did.
    await expect(engine.exportRun({ runId: 'straight', format: 'pytorch', metrics, dataCounts })).rejects.toThrow(
      /needs the run's tasks/,
    );
    const recipe = await engine.exportRun({ runId: 'straight', format: 'pytorch', metrics, dataCounts, tasks });
    const files = unzipSync(recipe.downloads[0].bytes);
    expect(Object.keys(files)).toEqual(
      expect.arrayContaining([
        'train.py',
        'run.json',
        'data.json',
        'schedule.json',
        'adapter_init.safetensors',
        'base/model.safetensors',
        'base/config.json',
        'README.md',
      ]),
    );
    const data = JSON.parse(new TextDecoder().decode(files['data.json'])) as {
      tasks: { name: string; train: unknown[]; eval: unknown[] }[];
    };
    expect(data.tasks.map((t) => [t.name, t.train.length, t.eval.length])).toEqual(
      tasks.map((t) => [t.name, dataCounts[t.name as 'animals'].train, dataCounts[t.name as 'animals'].eval]),
    );
    expect(JSON.parse(new TextDecoder().decode(files['schedule.json'])).iterations.length).toBe(settings.iterations);
  });

  it('refuses with a clear message: unknown run, busy run, no model', async () => {
    await expect(engine.evaluate({ runId: 'nope', settings, tasks, accuracy: false, adapt: false })).rejects.toThrow(
      /no checkpoint/,
    );
    const run = engine.train({ runId: 'busy', settings: { ...settings, iterations: 3 }, tasks, resume: false });
    await expect(engine.train({ runId: 'busy', settings, tasks, resume: false })).rejects.toThrow(/already training/);
    await expect(engine.loadModel({ kind: 'files', files: [] }, 'keep')).rejects.toThrow(/stop it/);
    await run;
    await engine.deleteRun('busy');
    expect(stores.has('busy')).toBe(false);
    await expect(
      engine.loadModel({ kind: 'files', files: [new File(['hello'], 'notes.txt')] }, 'keep'),
    ).rejects.toThrow(/Not a model/);
    const fresh = new Engine({
      gpu,
      checkpoints: memoryStore,
      deleteCheckpoint: async () => undefined,
      modelCache: () => {
        throw new Error('x');
      },
      emit: () => undefined,
    });
    await expect(fresh.train({ runId: 'x', settings, tasks, resume: false })).rejects.toThrow(/No model is loaded/);
  });
});

describe('engine on a device that is lost mid-run', () => {
  it('training fails with DeviceLostError, the last checkpoint stays, and a new device resumes the run', async () => {
    let ctx = await GpuContext.create();
    const lost = new Engine({
      gpu: async () => ctx,
      checkpoints: memoryStore,
      deleteCheckpoint: async () => undefined,
      modelCache: () => {
        throw new Error('no downloads in this test');
      },
      emit: (e) => events.push(e),
    });
    // What engine.worker.ts does when the device goes.
    void ctx.lost.then(() => lost.forgetGpuState());
    const files = () => [
      file(sharedPath('models/stories260K/stories260K.bin'), 'stories260K.bin'),
      file(sharedPath('models/stories260K/tok512.bin'), 'tok512.bin'),
    ];
    await lost.loadModel({ kind: 'files', files: files() }, 'keep');
    const run = lost.train({ runId: 'lost', settings, tasks, resume: false });
    await new Promise<void>((resolve) => {
      const poll = () => (metricsOf('lost').some((r) => r.iteration >= 3) ? resolve() : setTimeout(poll, 5));
      poll();
    });
    ctx.device.destroy();
    await expect(run).rejects.toMatchObject({ name: 'DeviceLostError' });
    const kept = stores.get('lost');
    expect(kept).toBeDefined(); // checkpoints every 2 iterations: the one at 2 survives the loss
    await expect(lost.evaluate({ runId: 'lost', settings, tasks, accuracy: false, adapt: false })).rejects.toThrow(
      /No model is loaded/,
    );

    ctx = await GpuContext.create();
    try {
      await lost.loadModel({ kind: 'files', files: files() }, 'keep');
      const resumed = await lost.train({ runId: 'lost', settings, tasks, resume: true });
      expect(resumed.status).toBe('done');
      expect(resumed.resumedFrom).toBeGreaterThanOrEqual(2);
    } finally {
      ctx.destroy();
    }
  });
});
