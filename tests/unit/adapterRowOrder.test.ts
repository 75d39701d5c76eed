// An adapter records the RoPE pairing of the base it trained on (adapter_config.json's metalora.ropePairing),
// so it applies to, and exports against, the same model in the other layout: trained on a Hugging Face
// folder ('half'), used with that model's llama.cpp GGUF conversion ('adjacent', Q/K rows permuted per head),
// our logits must match; PEFT exports made against either base must be byte-identical.

import { describe, expect, it } from 'vitest';
import { type AdapterData } from '../../src/export/adapterData';
import { exportAdapter } from '../../src/export';
import { concatParts } from '../../src/io/ggufWriter';
import type { ModelFiles } from '../../src/model/load';
import { ourLogits, randomAdapterData, relError } from '../helpers/exportFixtures';
import { freshSeed, rng } from '../helpers/random';
import { type RandomModelSpec, hfFolder, llamaGguf, randomHfWeights } from '../helpers/randomHfModel';

const seed = freshSeed();
const spec: RandomModelSpec = {
  modelType: 'llama',
  dim: 96,
  hiddenDim: 160,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  vocabSize: 300,
  tied: false,
};
const w = randomHfWeights(spec, rng(seed));
const hf: ModelFiles = { kind: 'hf', files: hfFolder(spec, w, 'F32') };
const gguf: ModelFiles = { kind: 'gguf', file: llamaGguf(spec, w, 'F32') };
const tokens = Array.from({ length: 9 }, (_, i) => (i * 37 + seed) % spec.vocabSize);
/** Float32 forwards of the same model in two layouts differ by rounding only (measured ~1e-7). */
const TOL = 1e-4;

const withPairing = (a: AdapterData, ropePairing?: 'half' | 'adjacent'): AdapterData => ({
  ...a,
  config: { ...a.config, metalora: { ...a.config.metalora, ropePairing } },
});

describe(`adapter trained on an HF folder, used with its GGUF conversion (seed ${seed})`, () => {
  for (const method of ['lora', 'mtl-lora'] as const) {
    it(`${method}: same logits on both layouts; without the recorded pairing they differ`, async () => {
      const { config, rows: base } = await ourLogits(hf, null, tokens);
      expect(config.ropePairing).toBe('half');
      const adapter = withPairing(
        randomAdapterData(config, {
          method,
          rank: 4,
          alpha: 8,
          targets: ['q', 'k', 'v', 'o'],
          seed: seed + 1,
          tasks: method === 'mtl-lora' ? ['x', 'y'] : undefined,
        }),
        'half',
      );
      const onHf = (await ourLogits(hf, adapter, tokens, 1 % adapter.config.metalora.tasks.length)).rows;
      const onGguf = await ourLogits(gguf, adapter, tokens, 1 % adapter.config.metalora.tasks.length);
      expect(onGguf.config.ropePairing).toBe('adjacent');
      const err = relError(onGguf.rows, onHf);
      const moved = relError(onHf, base);
      console.log(
        `${method}: HF vs GGUF with the adapter ${err.toExponential(2)}; the adapter moves logits by ${moved.toExponential(2)}`,
      );
      expect(err).toBeLessThan(TOL);
      expect(moved).toBeGreaterThan(10 * TOL);
      // An adapter folder from before the pairing was recorded is assumed to match the base: here it does not.
      const unaligned = (
        await ourLogits(gguf, withPairing(adapter, undefined), tokens, 1 % adapter.config.metalora.tasks.length)
      ).rows;
      expect(relError(unaligned, onHf)).toBeGreaterThan(10 * TOL);
    });
  }

  it('PEFT exports against the HF folder and against the GGUF conversion are identical', async () => {
    const { config } = await ourLogits(hf, null, tokens.slice(0, 1));
    const adapter = withPairing(
      randomAdapterData(config, { method: 'lora', rank: 4, alpha: 8, targets: ['q', 'k', 'v'], seed: seed + 2 }),
      'half',
    );
    const bytes = async (base: ModelFiles) => {
      const { files } = await exportAdapter('peft', { adapter, base });
      return concatParts(files.find((f) => f.name === 'adapter_model.safetensors')!.parts);
    };
    expect(await bytes(gguf)).toEqual(await bytes(hf));
  });
});
