// Property-based fuzzing of the files training writes and later reads back, which a user can carry around,
// edit or damage (tests/helpers/fuzz.ts): adapter folders (adapter_config.json + adapter_model.safetensors,
// parsed as `eval`, `generate` and `export` parse them, then exported against a base model on the CPU) and
// resumable checkpoints (checkpoint.json + its safetensors). Each case ends in a valid result or in the
// reader's own error. Zips are only written (exports), never read: their property is that every export
// round-trips through an independent unzip.
// CPU only: the GPU half of loading an adapter (src/cli/adapterDir.ts adapterFromData) is covered by
// exportPeft.test.ts; everything it reads is checked here first.

import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { adaptedSites } from '../../src/adapters/lora';
import { ALL_TARGETS, type TargetModule, modulePath, targetDims } from '../../src/adapters/types';
import { SourceRangeError, memorySource } from '../../src/io/byteSource';
import { type AdapterConfig, AdapterDataError, parseAdapter } from '../../src/export/adapterData';
import { ExportError, exportAdapter } from '../../src/export/index';
import { zipFiles } from '../../src/export/zip';
import { concatParts } from '../../src/io/ggufWriter';
import { SafetensorsError, writeSafetensors } from '../../src/io/safetensors';
import {
  type Checkpoint,
  CheckpointError,
  deserializeCheckpoint,
  serializeCheckpoint,
} from '../../src/train/checkpoint';
import { SettingsError, resolveSettings } from '../../src/train/settings';
import {
  type JsonValue,
  editJson,
  fc,
  fuzzParams,
  fuzzSeed,
  jsonEdits,
  mutate,
  mutations,
  outcome,
} from '../helpers/fuzz';
import { type RandomModelSpec, llamaGguf, randomHfWeights } from '../helpers/randomHfModel';
import { randomF32, rng } from '../helpers/random';

const ADAPTER_ERRORS = [AdapterDataError, SafetensorsError, ExportError, SettingsError, SourceRangeError];

/** A 1-layer llama GGUF base (dim 8, 2 heads, 1 KV head): adjacent RoPE pairing, so Q/K rows move on export. */
const SPEC: RandomModelSpec = {
  modelType: 'llama',
  dim: 8,
  hiddenDim: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  vocabSize: 32,
  tied: true,
};
const BASE_SOURCE = llamaGguf(SPEC, randomHfWeights(SPEC, rng(3)), 'F32');
const BASE = await BASE_SOURCE.read(0, BASE_SOURCE.size);
const CFG = { dim: 8, hiddenDim: 16, nLayers: 1, nHeads: 2, nKvHeads: 1, headDim: 4 } as const;

/** An adapter folder's two files as `train --out` writes them (trained on an HF base: 'half' pairing). */
function adapterFiles(method: 'lora' | 'mtl-lora'): { config: string; tensors: Uint8Array } {
  const targets: TargetModule[] = ['q', 'k', 'v', 'down'];
  const tasks = method === 'lora' ? ['all'] : ['a', 'b'];
  const settings = resolveSettings(method, { rank: 2, loraAlpha: 4, targets, mtlUpProjections: 2 });
  const random = rng(11);
  const list: { name: string; dtype: 'F32'; shape: number[]; data: Uint8Array }[] = [];
  const add = (name: string, shape: number[]) =>
    list.push({
      name,
      dtype: 'F32',
      shape,
      data: new Uint8Array(
        randomF32(
          shape.reduce((a, b) => a * b, 1),
          random,
        ).buffer,
      ),
    });
  for (const { layer, target } of adaptedSites(CFG as never, { rank: 2, alpha: 4, dropout: 0, targets })) {
    const d = targetDims(CFG as never, target);
    const path = modulePath(layer, target);
    if (method === 'lora') {
      add(`${path}.lora_A.weight`, [2, d.in]);
      add(`${path}.lora_B.weight`, [d.out, 2]);
      continue;
    }
    add(`${path}.mtl_lora_A.weight`, [2, d.in]);
    add(`${path}.mtl_lora_B.weight`, [2, d.out, 2]);
    tasks.forEach((_, t) => add(`${path}.mtl_lora_Lambda.${t}.weight`, [2, 2]));
    tasks.forEach((_, t) => add(`${path}.mtl_lora_w.${t}`, [2]));
  }
  const config: AdapterConfig = {
    peft_type: method === 'lora' ? 'LORA' : 'MTL_LORA',
    task_type: 'CAUSAL_LM',
    r: 2,
    lora_alpha: 4,
    target_modules: ALL_TARGETS.filter((t) => targets.includes(t)).map((t) => `${t}_proj`),
    lora_dropout: 0,
    bias: 'none',
    fan_in_fan_out: false,
    base_model_name_or_path: 'base',
    inference_mode: true,
    metalora: { method, tasks, settings, ropePairing: 'half' },
  };
  return { config: JSON.stringify(config), tensors: concatParts(writeSafetensors(list, { format: 'pt' })) };
}
const ADAPTERS = [adapterFiles('lora'), adapterFiles('mtl-lora')];

/** A safetensors file with its header JSON edited (length prefix kept true); unchanged if it no longer parses. */
function editHeader(bytes: Uint8Array, edits: Parameters<typeof editJson>[1]): Uint8Array {
  try {
    const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const json = new TextEncoder().encode(
      JSON.stringify(editJson(JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), edits)),
    );
    const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(bytes.subarray(8 + n), 8 + json.length);
    return out;
  } catch {
    return bytes;
  }
}

/** A JSON text with edits, or with byte edits of the text itself. */
const editText = (
  text: string,
  how: 'json' | 'bytes',
  json: Parameters<typeof editJson>[1],
  bytes: Parameters<typeof mutate>[1],
) =>
  how === 'json'
    ? JSON.stringify(editJson(JSON.parse(text) as JsonValue, json))
    : new TextDecoder().decode(mutate(new TextEncoder().encode(text), bytes, 1 << 20));

/** Which of the two files to damage, and how. */
const damage = fc.record({
  config: fc.option(
    fc.record({ how: fc.constantFrom('json' as const, 'bytes' as const), json: jsonEdits, bytes: mutations }),
  ),
  tensors: fc.option(
    fc.record({ how: fc.constantFrom('json' as const, 'bytes' as const), json: jsonEdits, bytes: mutations }),
  ),
});

describe('fuzzed adapter folders', () => {
  const seed = fuzzSeed();
  it(`adapter_config.json and adapter_model.safetensors damaged, then exported (FUZZ_SEED=${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(1),
        damage,
        fc.constantFrom('peft' as const, 'gguf' as const),
        async (which, d, format) => {
          const { config, tensors } = ADAPTERS[which];
          const configText = d.config ? editText(config, d.config.how, d.config.json, d.config.bytes) : config;
          const bytes = !d.tensors
            ? tensors
            : d.tensors.how === 'json'
              ? editHeader(tensors, d.tensors.json)
              : mutate(tensors, d.tensors.bytes, 1024);
          await outcome(ADAPTER_ERRORS, bytes.length + configText.length, async () => {
            const adapter = await parseAdapter(configText, bytes, 'run');
            const { files } = await exportAdapter(format, {
              adapter,
              base: { kind: 'gguf', file: memorySource(BASE, 'base.gguf') },
            });
            expect(files.length).toBeGreaterThan(0);
          });
        },
      ),
      fuzzParams(seed),
    );
  });
});

describe('fuzzed training checkpoints', () => {
  const shape = [2, 3];
  const values = () => randomF32(6, rng(5));
  const settings = resolveSettings('lora', { rank: 2 });
  const CHECKPOINT: Checkpoint = {
    iteration: 3,
    settings,
    tasks: [
      { name: 'a', poolSize: 4 },
      { name: 'b', poolSize: 4 },
    ],
    params: [
      { name: 'p0', shape, data: values() },
      { name: 'p1', shape: [6], data: values() },
    ],
    optimizer: { step: 3, m: [values(), values()], v: [values(), values()] },
    rng: { dropout: [1, 2, 3, 4] },
    sampler: { kind: 'mixed', rng: [5, 6, 7, 8], orders: [{ order: [0, 1, 2, 3, 4, 5, 6, 7], cursor: 2, epoch: 0 }] },
    metrics: [{ iteration: 1, task: 'a', support_loss: null, query_loss: 1.5, lr: 1e-3, tokens_per_s: 10 }],
  };
  const saved = serializeCheckpoint(CHECKPOINT);
  const SAVED = { json: saved.json, tensors: concatParts(saved.tensors) };

  const seed = fuzzSeed();
  it(`checkpoint.json and its tensors damaged (FUZZ_SEED=${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(damage, async (d) => {
        const json = d.config ? editText(SAVED.json, d.config.how, d.config.json, d.config.bytes) : SAVED.json;
        const bytes = !d.tensors
          ? SAVED.tensors
          : d.tensors.how === 'json'
            ? editHeader(SAVED.tensors, d.tensors.json)
            : mutate(SAVED.tensors, d.tensors.bytes, 1024);
        const ck = await outcome(
          [CheckpointError, SafetensorsError, SourceRangeError],
          bytes.length + json.length,
          () => deserializeCheckpoint(json, bytes),
        );
        if (!ck) return;
        // What resuming reads (src/train/run.ts) is there and of the right kind.
        expect(Number.isSafeInteger(ck.iteration) && ck.iteration >= 0).toBe(true);
        expect(typeof ck.settings).toBe('object');
        ck.params.forEach((p, i) => {
          const n = p.shape.reduce((a, b) => a * b, 1);
          expect([p.data.length, ck.optimizer.m[i].length, ck.optimizer.v[i].length]).toEqual([n, n, n]);
        });
        expect(Array.isArray(ck.tasks) && Array.isArray(ck.metrics) && Array.isArray(ck.sampler.orders)).toBe(true);
        expect(ck.rng.dropout === undefined || ck.rng.dropout.length === 4).toBe(true);
      }),
      fuzzParams(seed),
    );
  });
});

describe('zips of exports', () => {
  const seed = fuzzSeed();
  it(`every file comes back out of the zip byte for byte (FUZZ_SEED=${seed})`, () => {
    const name = fc.stringMatching(/^[\w.-]{1,12}(\/[\w.-]{1,12})?\.(json|csv|gguf|safetensors|txt)$/);
    const file = fc.record({ name, parts: fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 3 }) });
    fc.assert(
      fc.property(fc.uniqueArray(file, { selector: (f) => f.name, minLength: 1, maxLength: 5 }), (files) => {
        const unzipped = unzipSync(zipFiles(files));
        expect(Object.keys(unzipped).sort()).toEqual(files.map((f) => f.name).sort());
        for (const f of files) expect(unzipped[f.name]).toEqual(concatParts(f.parts));
      }),
      fuzzParams(seed),
    );
  });
});
