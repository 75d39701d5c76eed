// Our GPU model against llama.cpp and the float64 reference, logits at every position, on random LLaMA
// GGUF files written here (F32, F16, Q8_0, Q4_0; tied and untied heads; GQA; dims not multiples of 64) and on
// the real stories260K GGUF.
//
// Relative error at a position = max_v |ours_v − theirs_v| / max_v |theirs_v|. Logits have no natural
// per-element scale (values near zero make elementwise ratios meaningless), while the largest logit sets the
// scale on which softmax and sampling act; the test takes the worst position.
//
// Tolerances: F32/F16 files ≤ 1e-3 against llama.cpp and the reference (both engines compute in f32; llama.cpp
// additionally rounds activations to f16 before F16 matmuls, ~2⁻¹¹ per element, averaging out in the dots).
// Q8_0/Q4_0 files ≤ 1e-3 against the reference on the exactly dequantized weights (our kernels decode blocks
// exactly and accumulate in f32), and ≤ 3e-2 against llama.cpp, which also quantizes the activations to Q8
// before each quantized matmul (~1/254 relative per element, compounded through the layers).

import { afterAll, describe, expect, it } from 'vitest';
import { forwardLogits } from '../../src/model/forward';
import { describeModel, loadModel } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import { type BaseQuant, releaseWeights } from '../../src/model/weights';
import { llamaForwardRef } from '../../src/reference/llama';
import { gpu } from '../helpers/gpu';
import { freshSeed, rng } from '../helpers/random';
import {
  BOS,
  MIN_VOCAB,
  type RandomModelSpec,
  quantizeWeights,
  tempDir,
  writeRandomGguf,
} from '../helpers/randomModel';
import { sharedPath } from '../helpers/shared';
import { hostWeights } from './hostWeights';
import { llamaCppLogits } from './llamacpp';

const T = 12;
const seed = freshSeed();
const tmp = tempDir('metalora-oracle-');
afterAll(() => tmp.remove());

/** The worst position's max|a − b| / max|b| (see the header). */
function relError(a: Float64Array[], b: Float64Array[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(
    ...a.map((row, t) => {
      let diff = 0;
      let scale = 0;
      row.forEach((x, v) => {
        diff = Math.max(diff, Math.abs(x - b[t][v]));
        scale = Math.max(scale, Math.abs(b[t][v]));
      });
      // NaN anywhere makes the error NaN, which fails every ≤ bound.
      return row.some(Number.isNaN) ? NaN : diff / scale;
    }),
  );
}

/** Our loader and GPU forward pass on the file at `path`; returns logits [T][vocab]. */
async function ourLogits(path: string, tokens: number[], quant: BaseQuant = 'keep') {
  const ctx = await gpu();
  const files = await openModelPath(path);
  try {
    const m = await loadModel(ctx, files, { quant });
    const logits = forwardLogits(ctx, m.weights, m.config, Uint32Array.from(tokens));
    const flat = await ctx.read(logits);
    logits.release();
    releaseWeights(m.weights);
    const V = m.config.vocabSize;
    return { config: m.config, rows: tokens.map((_, t) => Float64Array.from(flat.subarray(t * V, (t + 1) * V))) };
  } finally {
    if (files.kind === 'gguf') await files.file.close?.();
  }
}

/** Guards the comparisons' meaning: at every position the logits must spread, so errors are not hidden. */
function expectInformative(rows: Float64Array[]): void {
  for (const row of rows) expect(Math.max(...row) - Math.min(...row)).toBeGreaterThan(1);
}

function tokensFor(vocabSize: number, s: number): number[] {
  const random = rng(s);
  return [BOS, ...Array.from({ length: T - 1 }, () => MIN_VOCAB + Math.floor(random() * (vocabSize - MIN_VOCAB)))];
}

const base = { nLayers: 2, normEps: 1e-5, ropeTheta: 10000 };
const cases: { name: string; spec: Omit<RandomModelSpec, 'seed'>; oracleTol: number }[] = [
  {
    name: 'F32, tied head, GQA 3:1, dim 96 = 3 heads × 32, hidden 224',
    oracleTol: 1e-3,
    spec: { ...base, type: 'F32', dim: 96, hiddenDim: 224, nHeads: 3, nKvHeads: 1, vocabSize: 300, tied: true },
  },
  {
    name: 'F16, untied head, 5 heads × 32 = KV heads, dim 160, hidden 288, θ 5e5',
    oracleTol: 1e-3,
    spec: {
      ...base,
      type: 'F16',
      dim: 160,
      hiddenDim: 288,
      nHeads: 5,
      nKvHeads: 5,
      vocabSize: 419,
      tied: false,
      normEps: 1e-6,
      ropeTheta: 500000,
    },
  },
  {
    name: 'Q8_0, tied head, GQA 4:2 with head dim 40, dim 160, hidden 224',
    oracleTol: 3e-2,
    spec: { ...base, type: 'Q8_0', dim: 160, hiddenDim: 224, nHeads: 4, nKvHeads: 2, vocabSize: 512, tied: true },
  },
  {
    name: 'Q4_0, untied head, GQA 6:2 with head dim 16, dim 96, hidden 288, 3 layers',
    oracleTol: 3e-2,
    spec: {
      ...base,
      type: 'Q4_0',
      dim: 96,
      hiddenDim: 288,
      nLayers: 3,
      nHeads: 6,
      nKvHeads: 2,
      vocabSize: 333,
      tied: false,
    },
  },
];

describe(`random LLaMA GGUFs: ours vs llama.cpp and the float64 reference (seed ${seed})`, () => {
  cases.forEach(({ name, spec, oracleTol }, i) => {
    it(name, async () => {
      const model = writeRandomGguf(tmp.dir, `case${i}`, { ...spec, seed: seed + i });
      const tokens = tokensFor(spec.vocabSize, seed + 100 + i);
      const ours = await ourLogits(model.path, tokens);
      expect(ours.config).toEqual(model.config);
      const ref = llamaForwardRef(model.weights, model.config, tokens);
      const theirs = await llamaCppLogits(model.path, tokens, spec.vocabSize);
      expectInformative(ref);
      const errors = {
        ref: relError(ours.rows, ref),
        llama: relError(ours.rows, theirs),
        refLlama: relError(ref, theirs),
      };
      console.log(
        `${spec.type}: ours–ref ${errors.ref.toExponential(2)}, ours–llama.cpp ${errors.llama.toExponential(2)}, ` +
          `ref–llama.cpp ${errors.refLlama.toExponential(2)}`,
      );
      expect(errors.ref).toBeLessThanOrEqual(1e-3);
      expect(errors.llama).toBeLessThanOrEqual(oracleTol);
      expect(errors.refLlama).toBeLessThanOrEqual(oracleTol);
    });
  });

  it('quantize on load: an F32 file loaded as Q8_0 and Q4_0 matches the reference on ggml-quantized weights', async () => {
    const spec = { ...cases[0].spec, seed: seed + 50 };
    const model = writeRandomGguf(tmp.dir, 'quantize-on-load', spec);
    const tokens = tokensFor(spec.vocabSize, seed + 150);
    for (const quant of ['q8_0', 'q4_0'] as const) {
      const ours = await ourLogits(model.path, tokens, quant);
      const ref = llamaForwardRef(quantizeWeights(model.weights, quant), model.config, tokens);
      const error = relError(ours.rows, ref);
      console.log(`F32 loaded as ${quant}: ours–ref ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(1e-3);
    }
  });
});

describe('stories260K GGUF (real checkpoint, F32, GQA 8:4, head dim 8)', () => {
  it('logits at every position match llama.cpp and the float64 reference', async () => {
    const path = sharedPath('models/stories260K/stories260K.gguf');
    // BOS + "Once upon a time" (llama.cpp's tokenization), then arbitrary in-vocabulary tokens.
    const tokens = [1, 403, 407, 261, 378, 275, 342, 322, 261, 384, 367, 409];
    const ours = await ourLogits(path, tokens);
    const files = await openModelPath(path);
    const ref = llamaForwardRef(await hostWeights(await describeModel(files)), ours.config, tokens);
    if (files.kind === 'gguf') await files.file.close?.();
    const theirs = await llamaCppLogits(path, tokens, ours.config.vocabSize);
    const errors = {
      ref: relError(ours.rows, ref),
      llama: relError(ours.rows, theirs),
      refLlama: relError(ref, theirs),
    };
    console.log(
      `stories260K: ours–ref ${errors.ref.toExponential(2)}, ours–llama.cpp ${errors.llama.toExponential(2)}, ` +
        `ref–llama.cpp ${errors.refLlama.toExponential(2)}`,
    );
    expect(errors.ref).toBeLessThanOrEqual(1e-3);
    expect(errors.llama).toBeLessThanOrEqual(1e-3);
    expect(errors.refLlama).toBeLessThanOrEqual(1e-3);
  });
});
