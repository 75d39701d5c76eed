// Merged and GGUF exports checked without llama.cpp (tests/oracle/exportGguf.test.ts runs them in llama.cpp):
// merged safetensors round-trips through our Hugging Face loader to the base + adapter logits; an HF base's
// config and tokenizer files come along; a quantized base is dequantized, merged and requantized (bytes equal
// to ggml's encoder on the float64 merge) with a note saying so, and its metadata is carried over with types;
// the GGUF LoRA's KVs, names and shapes; the typed metadata reader; the pre-tokenizer names llama.cpp knows.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type TargetModule, modulePath } from '../../src/adapters/types';
import { type ByteSource, memorySource } from '../../src/io/byteSource';
import { exportAdapter } from '../../src/export';
import type { ExportFile } from '../../src/export/files';
import { readGgufMetadata } from '../../src/export/ggufMetadata';
import { bpePreTokenizer } from '../../src/export/ggufVocab';
import { readGguf } from '../../src/io/gguf';
import { type GgufEntry, concatParts, writeGguf } from '../../src/io/ggufWriter';
import { readSafetensors } from '../../src/io/safetensors';
import type { ModelFiles } from '../../src/model/load';
import { toF32 } from '../../src/model/weights';
import { f16ToF32, f32ToF16 } from '../../src/io/f16';
import { dequantizeQ8_0, quantizeQ8_0 } from '../../src/io/quant';
import { ourLogits, randomAdapterData, relError } from '../helpers/exportFixtures';
import { freshSeed, rng } from '../helpers/random';
import { hfFolder, randomHfWeights } from '../helpers/randomHfModel';
import { BOS, type RandomModelSpec, randomLlama, tempDir, writeLlamaGguf } from '../helpers/randomModel';

const seed = freshSeed();
const ALL: TargetModule[] = ['q', 'k', 'v', 'o', 'gate', 'up', 'down'];
const file = (files: ExportFile[], name: string) => concatParts(files.find((f) => f.name === name)!.parts);

/** A random llama GGUF held in memory, as ModelFiles. */
function ggufModel(spec: RandomModelSpec) {
  const model = randomLlama(spec);
  const tmp = tempDir('metalora-export-merged-');
  writeLlamaGguf(join(tmp.dir, 'm.gguf'), model);
  const bytes = new Uint8Array(readFileSync(join(tmp.dir, 'm.gguf')));
  tmp.remove();
  return { model, bytes, files: { kind: 'gguf', file: memorySource(bytes, 'm.gguf') } as ModelFiles };
}

const folderOf = (files: ExportFile[]): ModelFiles => ({
  kind: 'hf',
  files: new Map<string, ByteSource>(files.map((f) => [f.name, memorySource(concatParts(f.parts), f.name)])),
});

const base = { nLayers: 2, normEps: 1e-5, ropeTheta: 10000, vocabSize: 300, tied: false, seed } as const;

describe(`merged safetensors (seed ${seed})`, () => {
  it('from an adjacent-paired GGUF: our HF loader reads it back to the base + adapter logits', async () => {
    const { model, files } = ggufModel({ ...base, type: 'F32', dim: 96, hiddenDim: 136, nHeads: 4, nKvHeads: 2 });
    const adapter = randomAdapterData(model.config, {
      method: 'lora',
      rank: 4,
      alpha: 8,
      targets: ALL,
      seed: seed + 1,
    });
    const result = await exportAdapter('merged-safetensors', { adapter, base: files, dtype: 'F32' });
    expect(result.files.map((f) => f.name)).toEqual([
      'model.safetensors',
      'config.json',
      'training_report.json',
      'training_metrics.csv',
    ]);
    expect(result.notes.join('\n')).toMatch(/no Hugging Face tokenizer files/);
    const st = await readSafetensors(memorySource(file(result.files, 'model.safetensors')));
    expect(st.tensors.map((t) => t.name)).toContain('model.layers.1.self_attn.q_proj.weight');
    expect(new Set(st.tensors.map((t) => t.dtype))).toEqual(new Set(['F32']));
    const config = JSON.parse(new TextDecoder().decode(file(result.files, 'config.json')));
    expect(config).toMatchObject({
      model_type: 'llama',
      hidden_size: 96,
      num_key_value_heads: 2,
      torch_dtype: 'float32',
      tie_word_embeddings: false,
      rms_norm_eps: model.config.normEps,
    });
    const random = rng(seed + 2);
    const tokens = [BOS, ...Array.from({ length: 9 }, () => 3 + Math.floor(random() * 297))];
    const merged = await ourLogits(folderOf(result.files), null, tokens);
    expect(merged.config.ropePairing).toBe('half');
    const want = await ourLogits(files, adapter, tokens);
    const plain = await ourLogits(files, null, tokens);
    const error = relError(merged.rows, want.rows);
    console.log(`merged safetensors vs base + adapter: ${error.toExponential(2)}`);
    expect(relError(plain.rows, want.rows)).toBeGreaterThan(0.05);
    expect(error).toBeLessThanOrEqual(1e-4); // f32 both ways; W + s·B·A rounded once
  });

  it('from a BF16 Hugging Face folder: BF16 by default, config.json and tokenizer files carried over', async () => {
    const spec = {
      modelType: 'llama' as const,
      dim: 64,
      hiddenDim: 96,
      nLayers: 1,
      nHeads: 2,
      nKvHeads: 1,
      vocabSize: 272,
      tied: true,
    };
    const folder = hfFolder(spec, randomHfWeights(spec, rng(seed + 3)), 'BF16');
    const hf: ModelFiles = { kind: 'hf', files: folder };
    const { config } = await ourLogits(hf, null, [1]);
    const adapter = randomAdapterData(config, { method: 'lora', rank: 2, alpha: 4, targets: ['v'], seed: seed + 4 });
    const result = await exportAdapter('merged-safetensors', { adapter, base: hf });
    const names = result.files.map((f) => f.name);
    expect(names).toEqual(
      expect.arrayContaining(['model.safetensors', 'config.json', 'tokenizer.json', 'tokenizer_config.json']),
    );
    for (const n of ['tokenizer.json', 'tokenizer_config.json']) {
      const src = folder.get(n)!;
      expect(file(result.files, n)).toEqual(await src.read(0, src.size));
    }
    const own = folder.get('config.json')!;
    expect(JSON.parse(new TextDecoder().decode(file(result.files, 'config.json')))).toEqual({
      ...JSON.parse(new TextDecoder().decode(await own.read(0, own.size))),
      torch_dtype: 'bfloat16',
      tie_word_embeddings: true,
    });
    const st = await readSafetensors(memorySource(file(result.files, 'model.safetensors')));
    expect(new Set(st.tensors.map((t) => t.dtype))).toEqual(new Set(['BF16']));
    expect(st.tensors.some((t) => t.name === 'lm_head.weight')).toBe(false);
  });
});

describe(`quantized base (seed ${seed})`, () => {
  const { model, bytes, files } = ggufModel({ ...base, type: 'Q8_0', dim: 64, hiddenDim: 96, nHeads: 2, nKvHeads: 1 });
  const adapter = randomAdapterData(model.config, {
    method: 'lora',
    rank: 4,
    alpha: 8,
    targets: ['v', 'down'],
    seed: seed + 5,
  });

  it("merged GGUF: dequantized, merged and requantized to Q8_0 (ggml's encoder on the float64 merge), metadata carried over", async () => {
    const result = await exportAdapter('merged-gguf', { adapter, base: files });
    expect(result.notes.join('\n')).toMatch(
      /quantized weights \(Q8_0\): they were dequantized, merged .* re-encoded as Q8_0/,
    );
    const out = file(result.files, 'model-q8_0.gguf');
    const merged = await readGguf(memorySource(out));
    const original = await readGguf(memorySource(bytes));
    expect(merged.metadata.get('general.file_type')).toBe(7);
    for (const [k, v] of original.metadata) if (k !== 'general.file_type') expect(merged.metadata.get(k)).toEqual(v);
    expect((await readGgufMetadata(memorySource(out))).entries.find((e) => e.key === 'llama.block_count')?.type).toBe(
      'u32',
    );
    const tensor = (g: typeof merged, src: Uint8Array, name: string) => {
      const t = g.tensors.find((x) => x.name === name)!;
      return { type: t.type.name, bytes: src.subarray(t.offset, t.offset + t.byteLength) };
    };
    // Not adapted: the same bytes. Adapted: Q8_0(dequant(W) + s·B·A).
    expect(tensor(merged, out, 'blk.0.attn_q.weight')).toEqual(tensor(original, bytes, 'blk.0.attn_q.weight'));
    expect(tensor(merged, out, 'blk.1.attn_norm.weight').type).toBe('F32');
    const v = tensor(original, bytes, 'blk.1.attn_v.weight');
    const [rows, cols] = [32, 64];
    const W = dequantizeQ8_0(v.bytes, rows * cols);
    const A = adapter.tensors.get(`${modulePath(1, 'v')}.lora_A.weight`)!.data;
    const B = adapter.tensors.get(`${modulePath(1, 'v')}.lora_B.weight`)!.data;
    const want = Float32Array.from(W, (w, e) => {
      const [i, j] = [Math.floor(e / cols), e % cols];
      return w + 2 * [0, 1, 2, 3].reduce((s, k) => s + B[i * 4 + k] * A[k * cols + j], 0);
    });
    const got = tensor(merged, out, 'blk.1.attn_v.weight');
    expect(got.type).toBe('Q8_0');
    expect(got.bytes).toEqual(quantizeQ8_0(want));
    expect(got.bytes).not.toEqual(v.bytes);
  });

  it('merged safetensors: F16 by default, with the same note', async () => {
    const result = await exportAdapter('merged-safetensors', { adapter, base: files });
    expect(result.notes.join('\n')).toMatch(/quantized weights \(Q8_0\).*re-encoded as F16/);
    const st = await readSafetensors(memorySource(file(result.files, 'model.safetensors')));
    expect(new Set(st.tensors.map((t) => t.dtype))).toEqual(new Set(['F16']));
    const t = st.tensors.find((x) => x.name === 'model.norm.weight')!;
    const raw = file(result.files, 'model.safetensors');
    expect(toF32('F16', raw.subarray(t.offset, t.offset + t.byteLength), 'norm')).toEqual(
      Float32Array.from(model.weights.outNorm, (x) => f16ToF32(f32ToF16(x))),
    );
  });
});

describe('GGUF LoRA file and GGUF metadata', () => {
  it("has llama.cpp's adapter KVs, tensor names and PEFT-shaped (ggml-transposed) dims", async () => {
    const { model, files } = ggufModel({
      ...base,
      type: 'F32',
      dim: 48,
      hiddenDim: 80,
      nHeads: 3,
      nKvHeads: 1,
      seed: seed + 6,
    });
    const adapter = randomAdapterData(model.config, {
      method: 'lora',
      rank: 5,
      alpha: 7.5,
      targets: ['k', 'up'],
      seed: seed + 7,
    });
    const result = await exportAdapter('gguf', { adapter, base: files });
    expect(result.notes).toEqual([]);
    const g = await readGguf(memorySource(file(result.files, 'adapter.gguf')));
    expect(Object.fromEntries([...g.metadata].filter(([k]) => k !== 'general.name'))).toEqual({
      'general.architecture': 'llama',
      'general.type': 'adapter',
      'adapter.type': 'lora',
      'adapter.lora.alpha': 7.5,
    });
    expect(g.tensors.map((t) => [t.name, t.shape, t.type.name])).toEqual(
      [0, 1].flatMap((l) => [
        [`blk.${l}.attn_k.weight.lora_a`, [5, 48], 'F32'],
        [`blk.${l}.attn_k.weight.lora_b`, [16, 5], 'F32'],
        [`blk.${l}.ffn_up.weight.lora_a`, [5, 48], 'F32'],
        [`blk.${l}.ffn_up.weight.lora_b`, [80, 5], 'F32'],
      ]),
    );
  });

  it('reads every KV back with its GGUF type', async () => {
    const entries: GgufEntry[] = [
      { key: 'a.u8', type: 'u8', value: 200 },
      { key: 'a.i8', type: 'i8', value: -3 },
      { key: 'a.u16', type: 'u16', value: 60000 },
      { key: 'a.i16', type: 'i16', value: -300 },
      { key: 'a.u32', type: 'u32', value: 4e9 },
      { key: 'a.i32', type: 'i32', value: -7 },
      { key: 'a.f32', type: 'f32', value: 0.5 },
      { key: 'a.bool', type: 'bool', value: true },
      { key: 'a.str', type: 'string', value: 'héllo' },
      { key: 'a.u64', type: 'u64', value: 2n ** 40n },
      { key: 'a.i64', type: 'i64', value: -(2n ** 40n) },
      { key: 'a.f64', type: 'f64', value: 0.1 },
      { key: 'a.strs', type: 'array', itemType: 'string', value: ['x', '', 'yz'] },
      { key: 'a.f32s', type: 'array', itemType: 'f32', value: [1.5, -2] },
      { key: 'a.i32s', type: 'array', itemType: 'i32', value: [3, -4] },
    ];
    const bytes = concatParts(writeGguf(entries, [{ name: 't', type: 'F32', shape: [2], data: new Uint8Array(8) }]));
    const read = await readGgufMetadata(memorySource(bytes));
    expect(read.skipped).toEqual([]);
    expect(read.entries).toEqual(entries);
  });

  it("names the byte-level pre-tokenizers llama.cpp knows from tokenizer.json's own description", () => {
    const split = (regex: string) => ({
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: regex } },
        { type: 'ByteLevel', use_regex: false },
      ],
    });
    expect(bpePreTokenizer(split("(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"))).toBe(
      'llama-bpe',
    );
    expect(bpePreTokenizer(split("(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"))).toBe(
      'qwen2',
    );
    expect(
      bpePreTokenizer({
        type: 'Sequence',
        pretokenizers: [
          { type: 'Digits', individual_digits: true },
          { type: 'ByteLevel', use_regex: true },
        ],
      }),
    ).toBe('smollm');
    expect(bpePreTokenizer({ type: 'ByteLevel', use_regex: true })).toBe('gpt-2');
    expect(bpePreTokenizer({ type: 'Metaspace' })).toBeNull();
  });
});
