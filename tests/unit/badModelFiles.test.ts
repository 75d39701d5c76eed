// Broken and hostile model files through describeModel / loadModel, as a user's upload would arrive: each gives
// a clear error quickly (< 2 s) without a giant allocation — truncated files, wrong magic, unsupported types,
// headers that lie about sizes, absurd dimensions, inconsistent safetensors headers.

import { afterAll, describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import { type ByteSource, fileSource, memorySource } from '../../src/io/byteSource';
import { type GgufEntry, type GgufTensorData, concatParts, writeGguf } from '../../src/io/ggufWriter';
import { writeSafetensors } from '../../src/io/safetensors';
import { type ModelFiles, describeModel, loadModel } from '../../src/model/load';
import { tinyTokenizer } from '../helpers/randomHfModel';
import { sharedPath } from '../helpers/shared';

const stories = await fileSource(sharedPath('models/stories260K/stories260K.gguf'));
const storiesBin = await fileSource(sharedPath('models/stories260K/stories260K.bin'));
const STORIES = await stories.read(0, stories.size);
const STORIES_BIN = await storiesBin.read(0, storiesBin.size);
afterAll(async () => {
  await stories.close?.();
  await storiesBin.close?.();
});

/** A 2-layer llama GGUF (dim 32, hidden 64, 2 heads, 1 KV head, vocab 40), all F32 zeros. */
function tinyGguf(meta: Partial<Record<string, number>> = {}): Uint8Array {
  const dims = {
    embedding_length: 32,
    feed_forward_length: 64,
    block_count: 2,
    'attention.head_count': 2,
    'attention.head_count_kv': 1,
    context_length: 64,
    ...meta,
  };
  const entries: GgufEntry[] = [
    { key: 'general.architecture', type: 'string', value: 'llama' },
    { key: 'llama.attention.layer_norm_rms_epsilon', type: 'f32', value: 1e-5 },
    ...Object.entries(dims).map(([k, v]): GgufEntry => ({ key: `llama.${k}`, type: 'u64', value: BigInt(v!) })),
  ];
  const t = (name: string, shape: number[]): GgufTensorData => ({
    name,
    type: 'F32',
    shape,
    data: new Uint8Array(4 * shape.reduce((a, b) => a * b, 1)),
  });
  const tensors = [t('token_embd.weight', [40, 32])];
  for (let l = 0; l < 2; l++) {
    tensors.push(
      t(`blk.${l}.attn_norm.weight`, [32]),
      t(`blk.${l}.attn_q.weight`, [32, 32]),
      t(`blk.${l}.attn_k.weight`, [16, 32]),
      t(`blk.${l}.attn_v.weight`, [16, 32]),
      t(`blk.${l}.attn_output.weight`, [32, 32]),
      t(`blk.${l}.ffn_norm.weight`, [32]),
      t(`blk.${l}.ffn_gate.weight`, [64, 32]),
      t(`blk.${l}.ffn_up.weight`, [64, 32]),
      t(`blk.${l}.ffn_down.weight`, [32, 64]),
    );
  }
  tensors.push(t('output_norm.weight', [32]));
  return concatParts(writeGguf(entries, tensors));
}

/**
 * Rewrites a tensor's info in a GGUF header: after its name come u32 n_dims, u64 dims (fastest first),
 * u32 type and u64 data offset.
 */
function patchTensor(
  file: Uint8Array,
  name: string,
  patch: { dims?: bigint[]; type?: number; offset?: bigint },
): Uint8Array {
  const out = file.slice();
  const needle = new TextEncoder().encode(name);
  let at = 0;
  while (!needle.every((b, i) => out[at + i] === b)) at++;
  const view = new DataView(out.buffer);
  at += needle.length;
  const nDims = view.getUint32(at, true);
  at += 4;
  patch.dims?.forEach((d, i) => view.setBigUint64(at + 8 * i, d, true));
  at += 8 * nDims;
  if (patch.type !== undefined) view.setUint32(at, patch.type, true);
  if (patch.offset !== undefined) view.setBigUint64(at + 4, patch.offset, true);
  return out;
}

const gguf = (bytes: Uint8Array): ModelFiles => ({ kind: 'gguf', file: memorySource(bytes, 'model.gguf') });
const hf = (files: Record<string, Uint8Array>): ModelFiles => ({
  kind: 'hf',
  files: new Map<string, ByteSource>(Object.entries(files).map(([n, b]) => [n, memorySource(b, n)])),
});
const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const SMALL_CONFIG = {
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  num_key_value_heads: 1,
  vocab_size: 40,
};
/** Generous limits: only a shape or size check may stop the load before the (absent) GPU is touched. */
const noGpu = {
  info: { limits: { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 40 } },
} as unknown as GpuContext;

/** Where a tensor's name starts in a GGUF header. */
function findName(file: Uint8Array, name: string): number {
  const needle = new TextEncoder().encode(name);
  let at = 0;
  while (!needle.every((b, i) => file[at + i] === b)) at++;
  return at;
}

/**
 * Runs `attempt`, expects it to fail with `message` without holding large buffers (so nothing was allocated
 * for the bogus sizes: no elapsed-time check, which would flake on a loaded machine).
 */
async function failsClearly(attempt: () => Promise<unknown>, message: RegExp): Promise<void> {
  const memory = process.memoryUsage().arrayBuffers;
  await expect(attempt()).rejects.toThrow(message);
  expect(process.memoryUsage().arrayBuffers - memory).toBeLessThan(64 * 2 ** 20);
}

describe('bad model files', () => {
  it('accepts the well-formed files these cases break', async () => {
    expect((await describeModel(gguf(tinyGguf()))).config).toMatchObject({ dim: 32, nLayers: 2, vocabSize: 40 });
    expect((await describeModel(gguf(STORIES))).tensors.length).toBe(48);
  });

  it('truncated GGUF files', async () => {
    await failsClearly(
      () => describeModel(gguf(STORIES.subarray(0, STORIES.length >> 1))),
      /past the end of the file.*truncated/,
    );
    await failsClearly(() => describeModel(gguf(STORIES.subarray(0, 2000))), /truncated, or the header lies/);
    await failsClearly(
      () => describeModel(gguf(new Uint8Array(0))),
      /needs 4 bytes at offset 0, but the file ends at 0/,
    );
  });

  it('wrong magic', async () => {
    const bad = STORIES.slice(0, 4096);
    bad.set(new TextEncoder().encode('GGML'));
    await failsClearly(() => describeModel(gguf(bad)), /is not a GGUF file \(magic "GGML", expected "GGUF"\)/);
  });

  it('unsupported tensor types', async () => {
    const q5k = patchTensor(tinyGguf(), 'blk.1.ffn_up.weight', { type: 13 });
    await failsClearly(
      () => describeModel(gguf(q5k)),
      /tensor blk\.1\.ffn_up\.weight has type Q5_K, which is not supported/,
    );
    const unknown = patchTensor(tinyGguf(), 'token_embd.weight', { type: 77 });
    await failsClearly(() => describeModel(gguf(unknown)), /token_embd\.weight has type #77/);
  });

  it('headers that lie about sizes', async () => {
    const far = patchTensor(tinyGguf(), 'blk.0.attn_q.weight', { offset: 2n ** 40n });
    await failsClearly(() => describeModel(gguf(far)), /blk\.0\.attn_q\.weight .* past the end of the file/);
    const counts = tinyGguf();
    new DataView(counts.buffer).setBigUint64(8, 10n ** 12n, true); // tensor count
    await failsClearly(() => describeModel(gguf(counts)), /claims 1000000000000 tensors/);
    const key = tinyGguf();
    new DataView(key.buffer).setBigUint64(24, 2n ** 50n, true); // length of the first metadata key
    await failsClearly(() => describeModel(gguf(key)), /truncated, or the header lies about sizes/);
    // Metadata and tensors disagree: the loader names the tensor before reading or uploading it.
    await failsClearly(
      () => loadModel(noGpu, gguf(tinyGguf({ embedding_length: 48 }))),
      /tensor token_embd\.weight has shape \[40,32\], expected \[40,48\]/,
    );
  });

  it('absurd dimensions', async () => {
    const rows = patchTensor(tinyGguf(), 'token_embd.weight', { dims: [32n, 2n ** 40n] });
    await failsClearly(
      () => describeModel(gguf(rows)),
      /token_embd\.weight \[1099511627776,32\] F32 needs bytes .* past the end/,
    );
    const overflow = patchTensor(tinyGguf(), 'token_embd.weight', { dims: [2n ** 40n, 2n ** 40n] });
    await failsClearly(() => describeModel(gguf(overflow)), /absurd shape/);
    await failsClearly(
      () => describeModel(gguf(tinyGguf({ embedding_length: 1e12 }))),
      /dim = 1000000000000 is not a sensible size/,
    );
    await failsClearly(
      () => describeModel(hf({ 'config.json': json({ ...SMALL_CONFIG, vocab_size: 1e12 }) })),
      /vocabSize = 1000000000000 is not a sensible size/,
    );
  });

  it('truncated or absurd llama2.c checkpoints', async () => {
    const bin = (b: Uint8Array): ModelFiles => ({ kind: 'llama2c', file: memorySource(b, 'model.bin') });
    await failsClearly(
      () => describeModel(bin(STORIES_BIN.subarray(0, STORIES_BIN.length - 100))),
      /implies 1056540 bytes but the file has 1056440/,
    );
    await failsClearly(() => describeModel(bin(STORIES_BIN.subarray(0, 20))), /too short for a llama2\.c checkpoint/);
    const huge = STORIES_BIN.slice(0, 4096);
    new DataView(huge.buffer).setInt32(0, 2 ** 30, true); // dim
    await failsClearly(() => describeModel(bin(huge)), /is not a llama2\.c v0 checkpoint/);
  });

  it('safetensors with an inconsistent header', async () => {
    const embed = {
      name: 'model.embed_tokens.weight',
      dtype: 'F32' as const,
      shape: [40, 32],
      data: new Uint8Array(40 * 32 * 4),
    };
    const [head, data] = writeSafetensors([embed]);
    const withHeader = (text: string) => {
      const h = new TextEncoder().encode(text);
      const out = new Uint8Array(8 + h.length + data.length);
      new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
      out.set(h, 8);
      out.set(data, 8 + h.length);
      return out;
    };
    const header = JSON.parse(new TextDecoder().decode(head.subarray(8)));
    const span = withHeader(JSON.stringify({ [embed.name]: { ...header[embed.name], shape: [41, 32] } }));
    await failsClearly(
      () => describeModel(hf({ 'config.json': json(SMALL_CONFIG), 'model.safetensors': span })),
      /model\.embed_tokens\.weight F32 \[41,32\] should take 5248 bytes but its offsets span 5120/,
    );
    const past = withHeader(JSON.stringify({ [embed.name]: { ...header[embed.name], data_offsets: [4, 5124] } }));
    await failsClearly(
      () => describeModel(hf({ 'config.json': json(SMALL_CONFIG), 'model.safetensors': past })),
      /ends at 5124, past the data section/,
    );
    const length = concatParts([head, data]);
    new DataView(length.buffer).setBigUint64(0, 2n ** 40n, true);
    await failsClearly(
      () => describeModel(hf({ 'config.json': json(SMALL_CONFIG), 'model.safetensors': length })),
      /header length 1099511627776 is impossible/,
    );
  });
});

// Cases the fuzzers (fuzzModelFiles.test.ts) found, kept so that each stays fixed.
describe('bad model files found by fuzzing', () => {
  it('a llama2.c header claiming a million layers is refused by its size, not after listing 9 million tensors', async () => {
    const layers = STORIES_BIN.slice(0, 4096);
    new DataView(layers.buffer).setInt32(8, 2 ** 20 - 1, true); // n_layers
    await failsClearly(
      () => describeModel({ kind: 'llama2c', file: memorySource(layers, 'model.bin') }),
      /the header implies \d+ bytes but the file has 4096/,
    );
  }, 20_000); // a generous bound, stated as such: listing the tensors first took ~60 s; the size check takes ms

  it('a GGUF without token_embd.weight', async () => {
    const renamed = tinyGguf();
    renamed.set(new TextEncoder().encode('token_embX'), findName(renamed, 'token_embd'));
    await failsClearly(
      () => describeModel(gguf(renamed)),
      /no token_embd\.weight tensor; not a LLaMA-family language model/,
    );
    await expect(describeModel(gguf(renamed))).rejects.toMatchObject({ name: 'UnsupportedModelError' });
  });

  describe('tokenizer.json and its companions', () => {
    const embed = {
      name: 'model.embed_tokens.weight',
      dtype: 'F32' as const,
      shape: [40, 32],
      data: new Uint8Array(40 * 32 * 4),
    };
    const weights = concatParts(writeSafetensors([embed]));
    const tok = tinyTokenizer();
    const folder = (tokenizer: unknown, config: unknown = tok.tokenizerConfig, modelConfig: object = SMALL_CONFIG) =>
      hf({
        'config.json': json(modelConfig),
        'model.safetensors': weights,
        'tokenizer.json': json(tokenizer),
        'tokenizer_config.json': json(config),
      });
    const vocab = tok.tokenizerJson.model.vocab;

    it('token ids that are not integers, or far past the vocabulary', async () => {
      const notId = { ...tok.tokenizerJson, model: { ...tok.tokenizerJson.model, vocab: { ...vocab, x: false } } };
      await failsClearly(() => describeModel(folder(notId)), /tokenizer\.json gives token "x" the id false/);
      const far = { ...tok.tokenizerJson, model: { ...tok.tokenizerJson.model, vocab: { ...vocab, x: 1e9 } } };
      await failsClearly(
        () => describeModel(folder(far)),
        /gives token "x" the id 1000000000; ids are integers from 0/,
      );
      const added = { ...tok.tokenizerJson, added_tokens: [{ id: -1, content: '<x>' }] };
      await failsClearly(() => describeModel(folder(added)), /gives token "<x>" the id -1/);
    });

    it('a post-processor of the wrong shape fails as a tokenizer error, not a TypeError from the library', async () => {
      const broken = {
        ...tok.tokenizerJson,
        post_processor: { type: 'TemplateProcessing', single: 3, pair: 3, special_tokens: {} },
      };
      await failsClearly(() => describeModel(folder(broken)), /tokenizer\.json cannot encode: .*not iterable/);
      await expect(describeModel(folder(broken))).rejects.toMatchObject({ name: 'HfTokenizerError' });
    });

    it('config.json naming a BOS id that is not a token id', async () => {
      const config = { ...tok.tokenizerConfig, bos_token: undefined };
      await failsClearly(
        () => describeModel(folder(tok.tokenizerJson, config, { ...SMALL_CONFIG, bos_token_id: 0.5 })),
        /config\.json names token id 0\.5, which is not in tokenizer\.json's 272 ids/,
      );
    });

    it('a chat_template list with a null entry is no template, not a TypeError', async () => {
      const d = await describeModel(folder(tok.tokenizerJson, { ...tok.tokenizerConfig, chat_template: [null] }));
      expect(d.chatTemplate).toBeUndefined();
    });
  });
});
