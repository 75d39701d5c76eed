// GPU memory estimates and the pre-load limit check: storage types as loadWeights chooses them, sizes against
// hand-computed numbers and published checkpoint sizes, and clear GpuLimitErrors before anything is allocated.

import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { GpuLimitError } from '../../src/gpu/errors';
import { fileSource } from '../../src/io/byteSource';
import { parameterCount } from '../../src/model/config';
import { describeModel, loadModel } from '../../src/model/load';
import { checkFits, checkpointTensors, estimateMemory, placeMatrix, presetSizes } from '../../src/model/memory';
import { PRESETS } from '../../src/model/presets';
import { sharedPath } from '../helpers/shared';

const gguf = await fileSource(sharedPath('models/stories260K/stories260K.gguf'));
const bin = await fileSource(sharedPath('models/stories260K/stories260K.bin'));
afterAll(async () => {
  await gguf.close?.();
  await bin.close?.();
});

/** WebGPU's defaults, which browsers give unless a page asks for more. */
const BROWSER_DEFAULTS = { maxBufferSize: 256 * 2 ** 20, maxStorageBufferBindingSize: 128 * 2 ** 20 };
const preset = (id: string) => PRESETS.find((p) => p.id === id)!;

describe('memory estimate', () => {
  it('places stories260K as loadWeights stores it', async () => {
    const m = await describeModel({ kind: 'llama2c', file: bin });
    const keep = estimateMemory(m.config, m.tensors);
    expect(keep.weights.bytes).toBe(4 * parameterCount(m.config));
    expect(keep.weights.tensors.map((t) => t.name).sort()).toEqual(
      checkpointTensors(m.config, 'F32')
        .map((t) => t.name)
        .sort(),
    );
    const q8 = estimateMemory(m.config, m.tensors, { quant: 'q8_0' });
    const byName = new Map(q8.weights.tensors.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_q.weight')).toMatchObject({
      gpuType: 'q8_0',
      bytes: 64 * 2 * 34,
      stagingBytes: 64 * 64 * 4 + 64 * 2 * 34,
    });
    // Rows of 172 values are not whole Q8_0 blocks: kept in f32, as loadWeights does.
    expect(byName.get('blk.0.ffn_down.weight')).toMatchObject({ gpuType: 'f32', bytes: 64 * 172 * 4, stagingBytes: 0 });
    expect(byName.get('blk.0.attn_norm.weight')).toMatchObject({ gpuType: 'f32', bytes: 256 });
  });

  it('follows each stored type to its GPU type', () => {
    expect(placeMatrix('Q8_0', 8, 64, 'q4_0')).toEqual({ gpuType: 'q8_0', stagingBytes: 0 });
    // Staging per chunk of rows: input (raw blocks + their f32 decode, or the f32 values) and the chunk's blocks.
    expect(placeMatrix('Q4_K', 8, 512, 'keep')).toEqual({
      gpuType: 'q8_0',
      stagingBytes: 8 * 2 * 144 + 8 * 512 * 4 + 8 * 16 * 34,
    });
    expect(placeMatrix('Q6_K', 8, 512, 'q4_0')).toEqual({
      gpuType: 'q4_0',
      stagingBytes: 8 * 2 * 210 + 8 * 512 * 4 + 8 * 16 * 18,
    });
    expect(placeMatrix('BF16', 8, 64, 'keep')).toEqual({ gpuType: 'bf16', stagingBytes: 0 });
    expect(placeMatrix('F16', 8, 64, 'keep')).toEqual({ gpuType: 'f16', stagingBytes: 0 });
    expect(placeMatrix('F16', 8, 64, 'q4_0')).toEqual({ gpuType: 'q4_0', stagingBytes: 8 * 64 * 4 + 8 * 2 * 18 });
    // Big matrices stage one chunk of rows (≤ 32 MiB of f32), not the whole tensor.
    expect(placeMatrix('F16', 32000, 2048, 'q8_0').stagingBytes).toBeLessThanOrEqual(32 * 2 ** 20 + 4096 * 64 * 34);
    expect(placeMatrix('F16', 8, 65, 'q4_0')).toEqual({ gpuType: 'f16', stagingBytes: 0 });
  });

  it('sizes the KV cache and the activations for the chosen lengths', () => {
    const cfg = preset('smollm2-135m').config;
    const e = estimateMemory(cfg, checkpointTensors(cfg, 'BF16'), { contextLength: 1000, sequenceLength: 100 });
    expect(e.kvCache).toEqual({ bytes: 2 * 30 * 1000 * 3 * 64 * 4, perBuffer: 1000 * 3 * 64 * 4 });
    expect(e.activations.largest).toEqual({ name: 'logits [100, 49152]', bytes: 100 * 49152 * 4 });
    expect(e.total).toBe(e.weights.bytes + e.kvCache.bytes + e.activations.bytes);
    // Defaults: the model's context up to 2048, sequences up to 512.
    expect(estimateMemory(cfg, [])).toMatchObject({ contextLength: 2048, sequenceLength: 512 });
  });

  it('matches the published sizes of the presets (parameters × 2 bytes of BF16)', () => {
    const published: Record<string, number> = {
      'smollm2-135m-instruct': 134_515_008,
      'smollm2-360m-instruct': 361_821_120,
      'qwen2.5-0.5b-instruct': 494_032_768,
      'tinyllama-1.1b-chat': 1_100_048_384,
      'llama-3.2-1b-instruct': 1_235_814_400,
    };
    for (const [id, params] of Object.entries(published))
      expect(presetSizes(preset(id)).downloadBytes, id).toBe(2 * params);
    // BF16 matrices are kept at 2 bytes a value (the f16 kernels read them), the 61 norm vectors of 576 become
    // f32; Q4_0 takes 18 bytes per 32 values.
    const smol = preset('smollm2-135m-instruct');
    expect(presetSizes(smol).gpu.weights.bytes).toBe(2 * 134_515_008 + 2 * 61 * 576);
    expect(presetSizes(smol, 'q4_0').gpu.weights.byType.q4_0).toBe(((134_515_008 - 61 * 576) / 32) * 18);
  });
});

describe('limit check', () => {
  it('passes a model within the limits and names the tensor and limit otherwise', () => {
    const smol = presetSizes(preset('smollm2-135m-instruct')).gpu;
    expect(() => checkFits(smol, BROWSER_DEFAULTS)).not.toThrow();
    // The other: the bf16 embedding [151936, 896], 260 MiB.
    const qwen = presetSizes(preset('qwen2.5-0.5b-instruct')).gpu;
    expect(() => checkFits(qwen, BROWSER_DEFAULTS)).toThrow(GpuLimitError);
    expect(() => checkFits(qwen, BROWSER_DEFAULTS)).toThrow(
      /activation logits \[512, 151936\] needs 297 MiB, over the adapter's maxBufferSize of 256 MiB \(and 1 other buffer\)\. Quantizing on load/,
    );
    // Quantized on load a chunk of rows at a time, TinyLlama's 250 MiB embedding fits the 128 MiB bindings.
    expect(() => checkFits(presetSizes(preset('tinyllama-1.1b-chat'), 'q8_0').gpu, BROWSER_DEFAULTS)).not.toThrow();
  });

  it('makes loadModel refuse before allocating anything', async () => {
    // A context with tiny limits and nothing else: any allocation attempt would fail with a TypeError instead.
    const ctx = {
      info: { limits: { maxBufferSize: 2 ** 16, maxStorageBufferBindingSize: 2 ** 16 } },
    } as unknown as GpuContext;
    await expect(loadModel(ctx, { kind: 'gguf', file: gguf })).rejects.toThrow(
      /(token_embd|output)\.weight \(f32 \[512,64\]\) needs 131072 bytes, over the adapter's maxBufferSize of 65536 bytes \(and 1 other buffer\)/,
    );
  });
});
