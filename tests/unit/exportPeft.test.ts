// PEFT exports (src/export): the safetensors passes a strict reading written here from the format's rules
// and round-trips through ours; key names, shapes and adapter_config.json are PEFT's for LLaMA; Q/K lora_B
// rows of an adapter trained on an adjacent-paired GGUF are put in HF's order — proven by running the PEFT
// adapter on the Hugging Face version of the same model and getting the same logits; MTL-LoRA's per-task
// adapters equal the float64 merge A′ = Λ_t·A, B′ = Σ_i softmax(w_t/τ)_i·B^i; the zip unzips to the same bytes;
// the training report; and clear refusals.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { type TargetModule, modulePath, targetDims } from '../../src/adapters/types';
import { memorySource } from '../../src/io/byteSource';
import { exportAdapter } from '../../src/export';
import { type AdapterData, parseAdapter, parseAdapterTensors } from '../../src/export/adapterData';
import type { ExportFile } from '../../src/export/files';
import { concatParts } from '../../src/io/ggufWriter';
import { zipFiles } from '../../src/export/zip';
import { readSafetensors } from '../../src/io/safetensors';
import type { ModelFiles } from '../../src/model/load';
import type { MetricsRecord } from '../../src/train/metrics';
import { ourLogits, randomAdapterData, relError } from '../helpers/exportFixtures';
import { freshSeed, rng } from '../helpers/random';
import { type HfWeights, NORM_EPS, ROPE_THETA, hfFolder, permuteQK } from '../helpers/randomHfModel';
import { BOS, randomLlama, tempDir, writeLlamaGguf } from '../helpers/randomModel';

const seed = freshSeed();
const ALL: TargetModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const spec = {
  type: 'F32' as const,
  dim: 96,
  hiddenDim: 136,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  vocabSize: 300,
  tied: false,
  normEps: NORM_EPS,
  ropeTheta: ROPE_THETA,
  seed,
};
const model = randomLlama(spec);
const tmp = tempDir('metalora-export-peft-');
writeLlamaGguf(join(tmp.dir, 'base.gguf'), model);
const ggufBase: ModelFiles = {
  kind: 'gguf',
  file: memorySource(new Uint8Array(readFileSync(join(tmp.dir, 'base.gguf'))), 'base.gguf'),
};
tmp.remove();
const cfg = model.config;

const file = (files: ExportFile[], name: string) => {
  const f = files.find((x) => x.name === name);
  if (!f) throw new Error(`no ${name} among ${files.map((x) => x.name).join(', ')}`);
  return concatParts(f.parts);
};
const json = (files: ExportFile[], name: string) => JSON.parse(new TextDecoder().decode(file(files, name)));

/** The format's rules, checked independently of src/io/safetensors.ts. */
function strictSafetensors(bytes: Uint8Array): Map<string, { shape: number[]; data: Float32Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  expect((8 + n) % 8).toBe(0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  expect(header.__metadata__).toEqual({ format: 'pt' });
  const data = bytes.subarray(8 + n);
  const entries = Object.entries(header).filter(([k]) => k !== '__metadata__') as [
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] },
  ][];
  let at = 0;
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, t] of [...entries].sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0])) {
    expect(t.dtype).toBe('F32');
    expect(t.data_offsets[0]).toBe(at);
    expect(t.data_offsets[1] - t.data_offsets[0]).toBe(4 * t.shape.reduce((a, b) => a * b, 1));
    at = t.data_offsets[1];
    out.set(name, { shape: t.shape, data: new Float32Array(data.slice(t.data_offsets[0], t.data_offsets[1]).buffer) });
  }
  expect(at).toBe(data.byteLength);
  return out;
}

/** Inverse of permuteQK (written from its definition): HF row h·d + s·d/2 + j is GGUF row h·d + 2j + s. */
function unpermuteQK(values: Float32Array, heads: number, rows: number, cols: number): Float32Array {
  const d = rows / heads;
  const out = new Float32Array(values.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < d / 2; j++) {
      for (let s = 0; s < 2; s++)
        out.set(
          values.subarray((h * d + 2 * j + s) * cols, (h * d + 2 * j + s + 1) * cols),
          (h * d + (s * d) / 2 + j) * cols,
        );
    }
  }
  return out;
}

describe(`PEFT export of a LoRA trained on an adjacent-paired GGUF (seed ${seed})`, () => {
  const adapter = randomAdapterData(cfg, { method: 'lora', rank: 4, alpha: 8, targets: ALL, seed: seed + 1 });
  const exported = exportAdapter('peft', { adapter, base: ggufBase, baseName: 'org/model' });

  it('writes a strict safetensors with PEFT names and shapes, and a PEFT adapter_config.json', async () => {
    const { files, notes } = await exported;
    expect(files.map((f) => f.name)).toEqual([
      'adapter_model.safetensors',
      'adapter_config.json',
      'training_report.json',
      'training_metrics.csv',
    ]);
    const bytes = file(files, 'adapter_model.safetensors');
    const tensors = strictSafetensors(bytes);
    const ours = await readSafetensors(memorySource(bytes));
    expect(ours.tensors.map((t) => [t.name, t.shape])).toEqual([...tensors].map(([name, t]) => [name, t.shape]));
    expect(tensors.size).toBe(cfg.nLayers * ALL.length * 2);
    for (let l = 0; l < cfg.nLayers; l++) {
      for (const target of ALL) {
        const module = ['gate', 'up', 'down'].includes(target) ? `mlp.${target}_proj` : `self_attn.${target}_proj`;
        const path = `base_model.model.model.layers.${l}.${module}`;
        const d = targetDims(cfg, target);
        const A = tensors.get(`${path}.lora_A.weight`)!;
        const B = tensors.get(`${path}.lora_B.weight`)!;
        expect(A.shape).toEqual([4, d.in]);
        expect(B.shape).toEqual([d.out, 4]);
        const trained = (k: string) => adapter.tensors.get(`${modulePath(l, target)}.${k}`)!.data;
        expect(A.data).toEqual(trained('lora_A.weight'));
        // Q/K rows go from the GGUF's adjacent pairing to HF's rotate-half: permuting them back gives the trained B.
        const heads = target === 'q' ? cfg.nHeads : target === 'k' ? cfg.nKvHeads : 0;
        expect(heads ? permuteQK(B.data, heads, d.out, 4) : B.data).toEqual(trained('lora_B.weight'));
        if (heads) expect(B.data).not.toEqual(trained('lora_B.weight'));
      }
    }
    expect(json(files, 'adapter_config.json')).toEqual({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'org/model',
      revision: null,
      inference_mode: true,
      r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      target_modules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'],
      bias: 'none',
      fan_in_fan_out: false,
      modules_to_save: null,
      init_lora_weights: true,
      layers_to_transform: null,
      layers_pattern: null,
      rank_pattern: {},
      alpha_pattern: {},
      use_rslora: false,
    });
    expect(notes.join('\n')).toMatch(/reordered from the base's adjacent RoPE pairing to Hugging Face's half order/);
  });

  it('on the Hugging Face version of the same model, the PEFT adapter gives the GGUF + adapter logits', async () => {
    const { files } = await exported;
    const w: HfWeights = new Map();
    const mat = (name: string, m: { rows: number; cols: number; bytes: Uint8Array }, heads = 0) => {
      const v = new Float32Array(m.bytes.slice().buffer);
      w.set(name, { shape: [m.rows, m.cols], values: heads ? unpermuteQK(v, heads, m.rows, m.cols) : v });
    };
    const vec = (name: string, v: ArrayLike<number>) =>
      w.set(name, { shape: [v.length], values: Float32Array.from(v) });
    const m = model.weights;
    mat('model.embed_tokens.weight', m.embed);
    m.layers.forEach((layer, l) => {
      const p = `model.layers.${l}.`;
      vec(`${p}input_layernorm.weight`, layer.attnNorm);
      vec(`${p}post_attention_layernorm.weight`, layer.ffnNorm);
      mat(`${p}self_attn.q_proj.weight`, layer.wq, cfg.nHeads);
      mat(`${p}self_attn.k_proj.weight`, layer.wk, cfg.nKvHeads);
      mat(`${p}self_attn.v_proj.weight`, layer.wv);
      mat(`${p}self_attn.o_proj.weight`, layer.wo);
      mat(`${p}mlp.gate_proj.weight`, layer.gate);
      mat(`${p}mlp.up_proj.weight`, layer.up);
      mat(`${p}mlp.down_proj.weight`, layer.down);
    });
    vec('model.norm.weight', m.outNorm);
    mat('lm_head.weight', m.head);
    const hf: ModelFiles = { kind: 'hf', files: hfFolder({ modelType: 'llama', ...spec }, w, 'F32') };
    const peft: AdapterData = {
      config: adapter.config,
      tensors: await parseAdapterTensors(file(files, 'adapter_model.safetensors'), 'peft'),
    };
    const random = rng(seed + 2);
    const tokens = [BOS, ...Array.from({ length: 9 }, () => 3 + Math.floor(random() * (spec.vocabSize - 3)))];
    const onHf = await ourLogits(hf, peft, tokens);
    expect(onHf.config.ropePairing).toBe('half');
    const onGguf = await ourLogits(ggufBase, adapter, tokens);
    const base = await ourLogits(ggufBase, null, tokens);
    const error = relError(onHf.rows, onGguf.rows);
    console.log(
      `PEFT on HF vs adapter on GGUF: ${error.toExponential(2)} (adapter effect ${relError(base.rows, onGguf.rows).toExponential(2)})`,
    );
    expect(relError(base.rows, onGguf.rows)).toBeGreaterThan(0.05);
    // Same f32 arithmetic in both; only RoPE's pairing kernel and row order differ.
    expect(error).toBeLessThanOrEqual(1e-4);
  });

  it('zips to one archive that unzips to the same bytes', async () => {
    const { files } = await exported;
    const unzipped = unzipSync(zipFiles(files));
    expect(Object.keys(unzipped).sort()).toEqual(files.map((f) => f.name).sort());
    for (const f of files) expect(unzipped[f.name]).toEqual(concatParts(f.parts));
  });
});

describe(`MTL-LoRA exports one plain LoRA per task (seed ${seed})`, () => {
  const tasks = ['colors', 'animal facts'];
  const mtl = randomAdapterData(cfg, {
    method: 'mtl-lora',
    rank: 3,
    alpha: 6,
    targets: ['q', 'v', 'down'],
    tasks,
    nUp: 3,
    tau: 0.4,
    seed: seed + 3,
  });
  const metrics: MetricsRecord[] = [
    { iteration: 1, task: 'colors', support_loss: null, query_loss: 3.5, lr: 1e-3, tokens_per_s: 100 },
    { iteration: 1, task: 'animal facts', support_loss: null, query_loss: 4.5, lr: 1e-3, tokens_per_s: 100 },
    { iteration: 1, task: 'mean', support_loss: null, query_loss: 4, lr: 1e-3, tokens_per_s: 100, grad_norm: 2 },
    { iteration: 1, task: 'mean', support_loss: null, query_loss: null, lr: 1e-3, tokens_per_s: 0, eval_loss: 3.9 },
  ];

  it('A′ = Λ_t·A and B′ = Σ_i softmax(w_t/τ)_i·B^i, as float64 gives them, in a folder per task, with a manifest', async () => {
    const { files } = await exportAdapter('peft', {
      adapter: mtl,
      base: ggufBase,
      metrics,
      data: [{ task: 'colors', train: 8 }],
    });
    const manifest = json(files, 'mtl_lora_manifest.json');
    expect(manifest.tasks.map((t: { name: string; folder: string }) => [t.name, t.folder])).toEqual([
      ['colors', 'colors'],
      ['animal facts', 'animal_facts'],
    ]);
    for (const [t, task] of tasks.entries()) {
      const folder = manifest.tasks[t].folder;
      expect(json(files, `${folder}/adapter_config.json`)).toMatchObject({
        peft_type: 'LORA',
        r: 3,
        lora_alpha: 6,
        target_modules: ['q_proj', 'v_proj', 'down_proj'],
      });
      const tensors = strictSafetensors(file(files, `${folder}/adapter_model.safetensors`));
      expect(tensors.size).toBe(cfg.nLayers * 3 * 2);
      for (let l = 0; l < cfg.nLayers; l++) {
        for (const target of ['q', 'v', 'down'] as const) {
          const path = modulePath(l, target);
          const { in: n, out } = targetDims(cfg, target);
          const get = (k: string) => mtl.tensors.get(`${path}.${k}`)!.data;
          const [A, Bs, lambda, w] = [
            get('mtl_lora_A.weight'),
            get('mtl_lora_B.weight'),
            get(`mtl_lora_Lambda.${t}.weight`),
            get(`mtl_lora_w.${t}`),
          ];
          const e = Array.from(w, (v) => Math.exp(v / 0.4));
          const pi = e.map((v) => v / e.reduce((a, b) => a + b, 0));
          const A2 = Array.from({ length: 3 * n }, (_, i) =>
            [0, 1, 2].reduce((s, m) => s + lambda[Math.floor(i / n) * 3 + m] * A[m * n + (i % n)], 0),
          );
          const B2 = Array.from({ length: out * 3 }, (_, i) => pi.reduce((s, p, k) => s + p * Bs[k * out * 3 + i], 0));
          let gotB = tensors.get(`${path}.lora_B.weight`)!.data;
          if (target === 'q') gotB = permuteQK(gotB, cfg.nHeads, out, 3);
          const close = (got: Float32Array, want: number[]) =>
            got.forEach((g, i) => expect(Math.abs(g - want[i])).toBeLessThanOrEqual(6e-8 * Math.abs(want[i])));
          close(tensors.get(`${path}.lora_A.weight`)!.data, A2);
          close(gotB, B2);
          expect(
            manifest.tasks[t].mixing_weights[l * 3 + ['q', 'v', 'down'].indexOf(target)].weights.map((v: number) =>
              v.toFixed(12),
            ),
          ).toEqual(pi.map((v) => v.toFixed(12)));
        }
      }
      expect(task).toBe(manifest.tasks[t].name);
    }
    // The report: settings, data counts, seed and the curves as JSON and CSV.
    const report = json(files, 'training_report.json');
    expect(report).toMatchObject({
      method: 'mtl-lora',
      seed: seed + 3,
      tasks,
      data: [{ task: 'colors', train: 8 }],
      settings: { rank: 3, mtlTau: 0.4 },
      export: { format: 'peft', task: null },
      metrics,
      summary: {
        final_query_loss: { mean: { iteration: 1, value: 4 } },
        final_eval_loss: { mean: { iteration: 1, value: 3.9 } },
      },
    });
    expect(new TextDecoder().decode(file(files, 'training_metrics.csv')).split('\n')).toEqual([
      'iteration,task,support_loss,query_loss,eval_loss,grad_norm,lr,tokens_per_s',
      '1,colors,,3.5,,,0.001,100',
      '1,animal facts,,4.5,,,0.001,100',
      '1,mean,,4,,2,0.001,100',
      '1,mean,,,3.9,,0.001,0',
      '',
    ]);
  });

  it('refuses what it cannot do, saying why', async () => {
    await expect(exportAdapter('merged-gguf', { adapter: mtl, base: ggufBase })).rejects.toThrow(
      /merges one task: choose one of colors, animal facts/,
    );
    await expect(exportAdapter('gguf', { adapter: mtl, base: ggufBase, task: 'shapes' })).rejects.toThrow(
      /trained on colors, animal facts/,
    );
    const lora = randomAdapterData(cfg, { method: 'lora', rank: 2, alpha: 2, targets: ['q'], seed });
    await expect(exportAdapter('gguf', { adapter: lora, base: ggufBase, task: 'colors' })).rejects.toThrow(
      /--task applies to MTL-LoRA/,
    );
    await expect(exportAdapter('peft', { adapter: lora, base: ggufBase, dtype: 'F16' })).rejects.toThrow(
      /precision applies to merged/,
    );
    const other = randomAdapterData(
      { ...cfg, dim: 64, headDim: 16 },
      { method: 'lora', rank: 2, alpha: 2, targets: ['q'], seed },
    );
    await expect(exportAdapter('peft', { adapter: other, base: ggufBase })).rejects.toThrow(
      /shape \[2,64\], but this base model needs \[2,96\]/,
    );
    // Found by fuzzing (fuzzTrainingFiles.test.ts): Q/K rows to reorder that do not fit the base were a plain Error.
    const half = {
      ...other,
      config: { ...other.config, metalora: { ...other.config.metalora, ropePairing: 'half' as const } },
    };
    await expect(exportAdapter('peft', { adapter: half, base: ggufBase })).rejects.toThrow(
      /q_proj\.lora_B\.weight has shape \[64,2\], but this base model's q_proj has 96 output rows/,
    );
  });

  it('refuses a hand-edited adapter_config.json naming the field (found by fuzzing)', async () => {
    const lora = randomAdapterData(cfg, { method: 'lora', rank: 2, alpha: 2, targets: ['q'], seed });
    const m = lora.config.metalora;
    const edited = (metalora: object, peftType = lora.config.peft_type) =>
      parseAdapter(
        JSON.stringify({ ...lora.config, peft_type: peftType, metalora: { ...m, ...metalora } }),
        new Uint8Array(0),
        'run',
      );
    await expect(edited({ settings: { ...m.settings, targets: 3 } })).rejects.toThrow(
      /run\/adapter_config\.json: invalid training settings:\n {2}targets = 3/,
    );
    await expect(edited({ settings: 'lora' })).rejects.toThrow(/metalora\.settings is not an object/);
    await expect(edited({}, 'MTL_LORA')).rejects.toThrow(/peft_type MTL_LORA does not fit the method lora/);
    await expect(edited({ tasks: [1] })).rejects.toThrow(/metalora\.tasks must be a non-empty list of task names/);
    await expect(edited({ ropePairing: 'sideways' })).rejects.toThrow(/ropePairing "sideways" is neither/);
    // Settings an older version did not write take their defaults.
    const { adaptExamples: _, ...older } = m.settings;
    await expect(edited({ settings: older }).then((a) => a.config.metalora.settings.adaptExamples)).rejects.toThrow(
      /adapter_model/,
    );
  });
});
