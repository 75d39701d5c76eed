// Our GGUF exports against llama.cpp: a GGUF LoRA applied by llama.cpp to the base GGUF, and a merged GGUF
// run by llama.cpp alone, must give the logits of our own forward of the base with the adapter. Bases: random
// LLaMA GGUFs (odd sizes, heads ≠ KV heads, F32 and Q8_0), the real stories260K (GGUF, and the llama2.c .bin
// for a merged GGUF with a converted vocabulary), and a Hugging Face folder whose llama.cpp conversion has its
// Q/K rows permuted (written here, independently of the exporter) — which only matches if the exporter
// permutes Q/K lora_b rows (and merged Q/K rows) the same way. Every adapter parameter is non-zero.
//
// Tolerances (relative error as in llamacpp.test.ts: the worst position's max|Δ| / max|logit|):
//   F32 base + F32 LoRA, and F32 merged: 1e-4. Both engines compute in f32 (u = 2⁻²⁴) and differ only in
//     summation order: dot products of ≤ 224 terms through 9 sequential products (2 layers × {attention in,
//     attention out, MLP in, MLP out} + head) stay near 1e-6 (measured); 1e-4 leaves 100× room and is 10×
//     tighter than the base-model oracle's 1e-3.
//   F16 merged: each merged weight is rounded to f16 (unit roundoff u = 2⁻¹¹ ≈ 4.9e-4) and llama.cpp also
//     rounds activations to f16 before F16 products, so each of those 9 products is off by at most ≈ 2u
//     relative; summed without cancellation, 18u ≈ 8.8e-3: the bound is 1e-2.
//   Q8_0 base merged to Q8_0: 6e-2. The base-model oracle's Q8_0 bound is 3e-2 for one Q8 rounding per product
//     (llama.cpp quantizes activations to Q8; the weights are the same bytes in both engines). Here the merged
//     weights W + s·B·A are requantized as well — a second Q8_0 rounding of the same size (≤ amax/254 per
//     element) that our forward, running the base with the adapter in f32, does not have: twice the bound.
// Each case also checks that the adapter moves the logits by more than 5× its bound, so a dropped, transposed
// or misordered adapter tensor cannot pass.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TargetModule } from '../../src/adapters/types';
import { type ExportFormat, type ExportInputs, exportAdapter } from '../../src/export';
import { concatParts } from '../../src/io/ggufWriter';
import type { LlamaConfig } from '../../src/model/config';
import type { ModelFiles } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import { type AdapterSpec, ourLogits, randomAdapterData, relError } from '../helpers/exportFixtures';
import { freshSeed, rng } from '../helpers/random';
import {
  NORM_EPS,
  ROPE_THETA,
  type RandomModelSpec as HfSpec,
  hfFolder,
  permuteQK,
  randomHfWeights,
} from '../helpers/randomHfModel';
import {
  BOS,
  MIN_VOCAB,
  type RandomModelSpec,
  encodeWeight,
  tempDir,
  writeLlamaGguf,
  writeRandomGguf,
} from '../helpers/randomModel';
import { sharedPath } from '../helpers/shared';
import { llamaCppLogits } from './llamacpp';

const seed = freshSeed();
const tmp = tempDir('metalora-export-oracle-');
const opened: ModelFiles[] = [];
afterAll(async () => {
  for (const f of opened)
    if (f.kind !== 'hf') await Promise.all([f.file.close?.(), f.kind === 'llama2c' ? f.tokenizer?.close?.() : null]);
  tmp.remove();
});
const ALL: TargetModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const T = 10;
const F32_TOL = 1e-4;

function tokensFor(vocab: number, s: number): number[] {
  const random = rng(s);
  return [BOS, ...Array.from({ length: T - 1 }, () => MIN_VOCAB + Math.floor(random() * (vocab - MIN_VOCAB)))];
}

/** Runs the export and writes its files under a fresh folder; returns the folder. */
async function exportTo(name: string, format: ExportFormat, inputs: ExportInputs) {
  const dir = join(tmp.dir, name);
  mkdirSync(dir, { recursive: true });
  const result = await exportAdapter(format, inputs);
  for (const f of result.files) writeFileSync(join(dir, f.name), concatParts(f.parts));
  return { dir, notes: result.notes };
}

/** Checks the adapter moves the logits far beyond `tol`, then that ours and llama.cpp's agree within `tol`. */
function compare(label: string, ours: Float64Array[], base: Float64Array[], theirs: Float64Array[], tol: number): void {
  const effect = relError(base, ours);
  const error = relError(ours, theirs);
  console.log(
    `${label}: ours–llama.cpp ${error.toExponential(2)} (adapter effect ${effect.toExponential(2)}, bound ${tol})`,
  );
  expect(effect).toBeGreaterThan(5 * tol);
  expect(error).toBeLessThanOrEqual(tol);
}

/** Opens a model file (closed after the tests). */
async function gguf(path: string): Promise<ModelFiles> {
  const files = await openModelPath(path);
  opened.push(files);
  return files;
}
const lora = (s: number, rank = 4): AdapterSpec => ({ method: 'lora', rank, alpha: 2 * rank, targets: ALL, seed: s });

const F32_SPEC: Omit<RandomModelSpec, 'seed'> = {
  type: 'F32',
  dim: 96,
  hiddenDim: 224,
  nLayers: 2,
  nHeads: 3,
  nKvHeads: 1,
  vocabSize: 300,
  tied: false,
  normEps: 1e-5,
  ropeTheta: 10000,
};

describe(`GGUF LoRA and merged GGUF on random LLaMA GGUFs vs llama.cpp (seed ${seed})`, () => {
  const model = writeRandomGguf(tmp.dir, 'f32', { ...F32_SPEC, seed });
  const adapter = randomAdapterData(model.config, lora(seed + 1));
  const tokens = tokensFor(F32_SPEC.vocabSize, seed + 2);
  const reference = (async () => {
    const files = await gguf(model.path);
    return {
      files,
      ours: (await ourLogits(files, adapter, tokens)).rows,
      base: (await ourLogits(files, null, tokens)).rows,
    };
  })();

  it('LoRA on an F32 base, GQA 3:1, all seven targets', async () => {
    const { files, ours, base } = await reference;
    const { dir } = await exportTo('lora-f32', 'gguf', { adapter, base: files });
    const theirs = await llamaCppLogits(model.path, tokens, F32_SPEC.vocabSize, join(dir, 'adapter.gguf'));
    compare('GGUF LoRA, F32 base', ours, base, theirs, F32_TOL);
  });

  it('merged F32 and F16 GGUFs', async () => {
    const { files, ours, base } = await reference;
    for (const [dtype, tol] of [
      ['F32', F32_TOL],
      ['F16', 1e-2],
    ] as const) {
      const { dir } = await exportTo(`merged-${dtype}`, 'merged-gguf', { adapter, base: files, dtype });
      const theirs = await llamaCppLogits(join(dir, `model-${dtype.toLowerCase()}.gguf`), tokens, F32_SPEC.vocabSize);
      compare(`merged ${dtype} GGUF`, ours, base, theirs, tol);
    }
  });

  it('MTL-LoRA: one GGUF LoRA per task equals the MTL-LoRA forward of that task', async () => {
    const spec = {
      ...F32_SPEC,
      dim: 120,
      nHeads: 4,
      nKvHeads: 2,
      hiddenDim: 200,
      vocabSize: 280,
      tied: true,
      seed: seed + 10,
    };
    const m = writeRandomGguf(tmp.dir, 'mtl', spec);
    const files = await gguf(m.path);
    const mtl = randomAdapterData(m.config, {
      method: 'mtl-lora',
      rank: 4,
      alpha: 8,
      targets: ['q', 'k', 'v', 'down'],
      tasks: ['colors', 'animals'],
      nUp: 3,
      tau: 0.7,
      seed: seed + 11,
    });
    const toks = tokensFor(spec.vocabSize, seed + 12);
    const { dir } = await exportTo('mtl', 'gguf', { adapter: mtl, base: files });
    const base = (await ourLogits(files, null, toks)).rows;
    for (const [t, task] of ['colors', 'animals'].entries()) {
      const ours = (await ourLogits(files, mtl, toks, t)).rows;
      const theirs = await llamaCppLogits(m.path, toks, spec.vocabSize, join(dir, `adapter-${task}.gguf`));
      compare(`MTL-LoRA task ${task}`, ours, base, theirs, F32_TOL);
    }
  });

  it('Q8_0 base: merged by dequantizing, merging and requantizing to Q8_0', async () => {
    const m = writeRandomGguf(tmp.dir, 'q8', { ...F32_SPEC, type: 'Q8_0', seed: seed + 20 });
    const files = await gguf(m.path);
    const a = randomAdapterData(m.config, lora(seed + 21));
    const { dir, notes } = await exportTo('merged-q8', 'merged-gguf', { adapter: a, base: files });
    expect(notes.join('\n')).toMatch(/quantized weights \(Q8_0\).*dequantized.*re-encoded as Q8_0/);
    const theirs = await llamaCppLogits(join(dir, 'model-q8_0.gguf'), tokens, F32_SPEC.vocabSize);
    compare(
      'merged Q8_0 GGUF from a Q8_0 base',
      (await ourLogits(files, a, tokens)).rows,
      (await ourLogits(files, null, tokens)).rows,
      theirs,
      6e-2,
    );
  });
});

describe('stories260K (real checkpoint, GQA 8:4, head dim 8)', () => {
  const tokens = [1, 403, 407, 261, 378, 275, 342, 322, 261, 384];

  it('GGUF LoRA applied by llama.cpp to stories260K.gguf', async () => {
    const path = sharedPath('models/stories260K/stories260K.gguf');
    const files = await gguf(path);
    const { config, rows: base } = await ourLogits(files, null, tokens);
    const adapter = randomAdapterData(config, lora(seed + 30, 8));
    const { dir } = await exportTo('stories-lora', 'gguf', { adapter, base: files });
    const theirs = await llamaCppLogits(path, tokens, config.vocabSize, join(dir, 'adapter.gguf'));
    compare('stories260K GGUF LoRA', (await ourLogits(files, adapter, tokens)).rows, base, theirs, F32_TOL);
  });

  it('merged GGUF from the llama2.c .bin, with its tokenizer.bin converted to a GGUF vocabulary', async () => {
    const files = await gguf(sharedPath('models/stories260K/stories260K.bin'));
    const { config, rows: base } = await ourLogits(files, null, tokens);
    const adapter = randomAdapterData(config, lora(seed + 31, 8));
    const { dir } = await exportTo('stories-merged', 'merged-gguf', { adapter, base: files, dtype: 'F32' });
    const theirs = await llamaCppLogits(join(dir, 'model-f32.gguf'), tokens, config.vocabSize);
    compare('stories260K.bin merged F32 GGUF', (await ourLogits(files, adapter, tokens)).rows, base, theirs, F32_TOL);
  });
});

describe(`trained on a Hugging Face folder, applied by llama.cpp to its permuted GGUF conversion (seed ${seed})`, () => {
  const spec: HfSpec = {
    modelType: 'llama',
    dim: 96,
    hiddenDim: 160,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
    vocabSize: 300,
    tied: false,
  };
  const w = randomHfWeights(spec, rng(seed + 40));
  const files: ModelFiles = { kind: 'hf', files: hfFolder(spec, w, 'F32') };
  const hd = spec.dim / spec.nHeads;
  // The same model as convert_hf_to_gguf.py writes it: Q/K rows permuted per head (K by the KV heads).
  const cfg: LlamaConfig = {
    arch: 'llama',
    dim: spec.dim,
    hiddenDim: spec.hiddenDim,
    nLayers: spec.nLayers,
    nHeads: spec.nHeads,
    nKvHeads: spec.nKvHeads,
    headDim: hd,
    vocabSize: spec.vocabSize,
    normEps: NORM_EPS,
    ropeTheta: ROPE_THETA,
    ropePairing: 'adjacent',
    ropeScaling: null,
    tiedEmbeddings: false,
    contextLength: 64,
    qkvBias: false,
  };
  const mat = (name: string, heads = 0) => {
    const { shape, values } = w.get(name)!;
    return encodeWeight(heads ? permuteQK(values, heads, shape[0], shape[1]) : values, shape[0], shape[1], 'F32');
  };
  const vec = (name: string) => w.get(name)!.values;
  const ggufPath = join(tmp.dir, 'hf-converted.gguf');
  writeLlamaGguf(ggufPath, {
    config: cfg,
    weights: {
      embed: mat('model.embed_tokens.weight'),
      outNorm: vec('model.norm.weight'),
      head: mat('lm_head.weight'),
      layers: Array.from({ length: spec.nLayers }, (_, l) => {
        const p = `model.layers.${l}.`;
        return {
          attnNorm: vec(`${p}input_layernorm.weight`),
          ffnNorm: vec(`${p}post_attention_layernorm.weight`),
          wq: mat(`${p}self_attn.q_proj.weight`, spec.nHeads),
          wk: mat(`${p}self_attn.k_proj.weight`, spec.nKvHeads),
          wv: mat(`${p}self_attn.v_proj.weight`),
          wo: mat(`${p}self_attn.o_proj.weight`),
          gate: mat(`${p}mlp.gate_proj.weight`),
          up: mat(`${p}mlp.up_proj.weight`),
          down: mat(`${p}mlp.down_proj.weight`),
        };
      }),
    },
  });
  const tokens = tokensFor(spec.vocabSize, seed + 41);
  const reference = (async () => {
    const { config, rows: base } = await ourLogits(files, null, tokens);
    expect(config.ropePairing).toBe('half');
    const adapter = randomAdapterData(config, lora(seed + 42));
    return { adapter, base, ours: (await ourLogits(files, adapter, tokens)).rows };
  })();

  it("GGUF LoRA: Q/K lora_b rows permuted like the base's Q/K", async () => {
    const { adapter, base, ours } = await reference;
    const { dir, notes } = await exportTo('hf-lora', 'gguf', { adapter, base: files });
    expect(notes.join('\n')).toMatch(/reordered from the base's half RoPE pairing to llama\.cpp's adjacent order/);
    const theirs = await llamaCppLogits(ggufPath, tokens, spec.vocabSize, join(dir, 'adapter.gguf'));
    compare('HF-trained GGUF LoRA on the permuted conversion', ours, base, theirs, F32_TOL);
  });

  it('merged GGUF: Q/K rows permuted, tokenizer.json converted to a GGUF vocabulary', async () => {
    const { adapter, base, ours } = await reference;
    const { dir } = await exportTo('hf-merged', 'merged-gguf', { adapter, base: files, dtype: 'F32' });
    const theirs = await llamaCppLogits(join(dir, 'model-f32.gguf'), tokens, spec.vocabSize);
    compare('HF base merged F32 GGUF', ours, base, theirs, F32_TOL);
  });
});
