// Loading weights: quantize-on-load in chunks of rows gives the same bytes as quantizing the whole matrix
// (ggml's reference encoder), and a model file with a bad tensor fails before anything is uploaded.

import { describe, expect, it } from 'vitest';
import type { LlamaConfig } from '../../src/model/config';
import { fileTensor } from '../../src/model/tensorSource';
import { loadWeights, quantizeRows } from '../../src/model/weights';
import { memorySource } from '../../src/io/byteSource';
import { f16ToF32, f32ToF16 } from '../../src/io/f16';
import { quantize } from '../../src/io/quant';
import { dequantizeKRef } from '../../src/io/quantK';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const seed = freshSeed();

describe(`quantize on load (seed ${seed})`, () => {
  for (const type of ['q8_0', 'q4_0'] as const) {
    for (const dtype of ['F32', 'F16'] as const) {
      it(`${dtype} → ${type}, 37 rows in chunks of 6: byte-exact with the whole-matrix encoder`, async () => {
        const ctx = await gpu();
        const [rows, cols] = [37, 64];
        const values = randomF32(rows * cols, rng(seed));
        const bytes =
          dtype === 'F32' ? new Uint8Array(values.buffer) : new Uint8Array(Uint16Array.from(values, f32ToF16).buffer);
        const exact = dtype === 'F32' ? values : Float32Array.from(new Uint16Array(bytes.buffer), f16ToF32);
        const w = quantizeRows(ctx, dtype, bytes, rows, cols, type, 'test', 6 * 4 * cols);
        const got = new Uint8Array((await ctx.read(w.data)).buffer).subarray(0, quantize(type, exact).length);
        expect(Array.from(got)).toEqual(Array.from(quantize(type, exact)));
        w.data.release();
      });
    }
  }
});

describe(`K-quant requantization on load (seed ${seed})`, () => {
  for (const [dtype, blockBytes, type] of [
    ['Q6_K', 210, 'q8_0'],
    ['Q4_K', 144, 'q4_0'],
  ] as const) {
    it(`${dtype} → ${type}, 5 rows × 256 in chunks of 2: equals decode + encode on the host`, async () => {
      const ctx = await gpu();
      const [rows, cols] = [5, 256];
      const random = rng(seed + 1);
      const bytes = Uint8Array.from({ length: rows * blockBytes }, () => Math.floor(random() * 256));
      const view = new DataView(bytes.buffer);
      for (let b = 0; b < rows; b++) {
        // Finite scales: Q6_K keeps d in its last two bytes, Q4_K keeps d and dmin first.
        const at = dtype === 'Q6_K' ? [b * blockBytes + 208] : [b * blockBytes, b * blockBytes + 2];
        for (const o of at) view.setUint16(o, f32ToF16(0.01 + random() * 0.05), true);
      }
      const w = quantizeRows(ctx, dtype, bytes, rows, cols, type, 'test', 2 * 4 * cols);
      const want = quantize(
        type,
        Float32Array.from(dequantizeKRef(bytes, dtype === 'Q6_K' ? 'q6_k' : 'q4_k', rows * cols)),
      );
      const got = new Uint8Array((await ctx.read(w.data)).buffer).subarray(0, want.length);
      expect(Array.from(got)).toEqual(Array.from(want));
      w.data.release();
    });
  }
});

describe('loadWeights', () => {
  it('checks every tensor before uploading anything', async () => {
    const ctx = await gpu();
    const cfg = {
      dim: 32,
      hiddenDim: 64,
      nLayers: 1,
      nHeads: 2,
      nKvHeads: 1,
      headDim: 16,
      vocabSize: 40,
      tiedEmbeddings: true,
    } as LlamaConfig;
    const src = memorySource(new Uint8Array(4 * 40 * 32));
    const tensors = [fileTensor(src, 'token_embd.weight', [40, 32], 'F32', 0, 4 * 40 * 32)];
    const before = ctx.pool.inUseBytes;
    await expect(loadWeights(ctx, tensors, cfg)).rejects.toThrow(/blk.0.attn_norm.weight is missing/);
    expect(ctx.pool.inUseBytes).toBe(before);
  });
});
