// Property-based fuzzing of every model-file reader a user's upload reaches (tests/helpers/fuzz.ts): GGUF
// (header, metadata of every type, tensor directory, embedded tokenizers), llama2.c checkpoints and
// tokenizer.bin, Hugging Face folders (config.json, safetensors, the sharded index, tokenizer.json and
// tokenizer_config.json). Seeds are files the repo's writers produce and the real stories260K files; each
// case must describe the model (every tensor readable inside the file, the tokenizer usable, the memory check
// run) or be refused with the reader's own error. CPU only: nothing here touches the GPU.
// The bugs these fuzzers found are kept as hand-picked cases in badModelFiles.test.ts.

import { describe, it } from 'vitest';
import { GpuLimitError } from '../../src/gpu/errors';
import { type ByteSource, SourceRangeError, fileSource, memorySource } from '../../src/io/byteSource';
import { ChatTemplateError } from '../../src/io/chatTemplate';
import { GgufError, readGguf } from '../../src/io/gguf';
import { TokenizerError } from '../../src/io/ggufTokenizer';
import { type GgufEntry, concatParts, writeGguf } from '../../src/io/ggufWriter';
import { HfTokenizer, HfTokenizerError } from '../../src/io/hfTokenizer';
import { Llama2cError } from '../../src/io/llama2c';
import { SafetensorsError } from '../../src/io/safetensors';
import type { Tokenizer } from '../../src/io/tokenizer';
import { UnsupportedModelError } from '../../src/model/config';
import { HfFolderError } from '../../src/model/formats/hf';
import { type ModelDescription, type ModelFiles, describeModel } from '../../src/model/load';
import { checkWeightsFit } from '../../src/model/memory';
import {
  type JsonValue,
  editJson,
  fc,
  fuzzParams,
  fuzzSeed,
  jsonEdits,
  mutate,
  mutations,
  nastyJson,
  outcome,
  randomBytes,
} from '../helpers/fuzz';
import { type RandomModelSpec, hfFolder, llamaGguf, randomHfWeights, tinyTokenizer } from '../helpers/randomHfModel';
import { rng } from '../helpers/random';
import { sharedPath } from '../helpers/shared';

const MODEL_ERRORS = [
  GgufError,
  SafetensorsError,
  Llama2cError,
  TokenizerError,
  HfTokenizerError,
  HfFolderError,
  UnsupportedModelError,
  SourceRangeError,
  ChatTemplateError,
  GpuLimitError,
];

const readAll = async (path: string) => {
  const src = await fileSource(sharedPath(path));
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close?.();
  }
};
const STORIES_GGUF = await readAll('models/stories260K/stories260K.gguf');
const STORIES_BIN = await readAll('models/stories260K/stories260K.bin');
const TOK512 = await readAll('models/stories260K/tok512.bin');

/**
 * A llama2.c checkpoint for tok512.bin's 512 pieces at 1/60 of stories260K.bin's size (dim 8, 1 layer, 2 heads,
 * 1 KV head, untied head, 16 positions): most cases mutate it, since copying a megabyte is most of a case's cost.
 */
function tinyLlama2c(): Uint8Array {
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = [8, 16, 1, 2, 1, 512, 16];
  const kv = (kvHeads * dim) / heads;
  const floats =
    2 * vocab * dim +
    layers * (2 * dim + 2 * dim * dim + 2 * kv * dim + 3 * hidden * dim) +
    dim +
    seqLen * (dim / heads);
  const out = new Uint8Array(28 + 4 * floats);
  new Int32Array(out.buffer, 0, 7).set([dim, hidden, layers, heads, kvHeads, -vocab, seqLen]);
  new Float32Array(out.buffer, 28).set(Float32Array.from({ length: floats }, (_, i) => Math.sin(i)));
  return out;
}
const LLAMA2C_SEEDS = [tinyLlama2c(), tinyLlama2c(), tinyLlama2c(), STORIES_BIN];

const SPEC: RandomModelSpec = {
  modelType: 'llama',
  dim: 8,
  hiddenDim: 16,
  nLayers: 1,
  nHeads: 2,
  nKvHeads: 1,
  vocabSize: 272,
  tied: false,
};
const WEIGHTS = randomHfWeights(SPEC, rng(7));
const bytesOf = async (src: ByteSource) => src.read(0, src.size);
const TINY_GGUF = await bytesOf(llamaGguf(SPEC, WEIGHTS, 'F16'));

/** A byte-level BPE ("gpt2") vocabulary in GGUF metadata, beside a tiny model. */
const GPT2_VOCAB: GgufEntry[] = [
  { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
  { key: 'tokenizer.ggml.pre', type: 'string', value: 'smollm' },
  {
    key: 'tokenizer.ggml.tokens',
    type: 'array',
    itemType: 'string',
    value: ['h', 'e', 'l', 'o', 'he', 'll', 'hell', 'hello', 'Ġ', '<|im_start|>'],
  },
  { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: [1, 1, 1, 1, 1, 1, 1, 1, 1, 3] },
  { key: 'tokenizer.ggml.merges', type: 'array', itemType: 'string', value: ['h e', 'l l', 'he ll', 'hell o'] },
  { key: 'tokenizer.ggml.bos_token_id', type: 'u32', value: 9 },
  { key: 'tokenizer.ggml.eos_token_id', type: 'u32', value: 9 },
];
const TINY_ENTRIES: GgufEntry[] = [
  { key: 'general.architecture', type: 'string', value: 'llama' },
  { key: 'llama.embedding_length', type: 'u32', value: 8 },
  { key: 'llama.feed_forward_length', type: 'u32', value: 16 },
  { key: 'llama.block_count', type: 'u32', value: 1 },
  { key: 'llama.attention.head_count', type: 'u32', value: 2 },
  { key: 'llama.attention.head_count_kv', type: 'u32', value: 1 },
  { key: 'llama.attention.layer_norm_rms_epsilon', type: 'f32', value: 1e-5 },
  ...GPT2_VOCAB,
];
/** The tiny model's tensors as GGUF wants them (F32, names already GGUF's). */
const TINY_TENSORS = (await readGguf(memorySource(TINY_GGUF))).tensors.map((t) => ({
  name: t.name,
  type: t.type.name,
  shape: t.shape,
  data: TINY_GGUF.slice(t.offset, t.offset + t.byteLength),
}));
const GPT2_GGUF = concatParts(writeGguf(TINY_ENTRIES, TINY_TENSORS));

/** Where each GGUF seed's header ends: mutations aimed at the header land before it. */
const headerEnd = async (bytes: Uint8Array) => (await readGguf(memorySource(bytes))).dataOffset;
const GGUF_SEEDS = await Promise.all(
  [STORIES_GGUF, TINY_GGUF, GPT2_GGUF].map(async (bytes) => ({ bytes, head: await headerEnd(bytes) })),
);

const TEXT = 'Hello world, hello <|im_start|> once upon a time é 🙂';
/** Generous limits, so only a size the description makes impossible stops the memory check. */
const LIMITS = { maxBufferSize: 2 ** 40, maxStorageBufferBindingSize: 2 ** 40 };

/** What a user's load does on the CPU: describe, check memory, read every tensor's bytes, tokenize. */
async function useModel(files: ModelFiles): Promise<ModelDescription> {
  const d = await describeModel(files);
  checkWeightsFit(d.config, d.tensors, undefined, LIMITS);
  for (const t of d.tensors) {
    const bytes = await t.read();
    if (bytes.length !== t.byteLength)
      throw new Error(`${t.name}: read ${bytes.length} bytes, described ${t.byteLength}`);
  }
  if (d.tokenizer) useTokenizer(d.tokenizer);
  return d;
}

function useTokenizer(tok: Tokenizer): void {
  const ids = tok.encode(TEXT);
  if (!ids.every((id) => Number.isInteger(id) && id >= 0 && id < tok.vocabSize))
    throw new Error(`token ids out of range: ${ids}`);
  tok.decode(ids);
  tok.decode(Array.from({ length: Math.min(tok.vocabSize, 300) }, (_, i) => i));
}

/** The tiny model as a Hugging Face folder, in one safetensors file and in two shards with their index. */
const HF_FOLDERS = await Promise.all(
  [1, 2].map(async (shards) => {
    const files = hfFolder(SPEC, WEIGHTS, 'BF16', shards);
    return new Map(await Promise.all([...files].map(async ([n, s]) => [n, await bytesOf(s)] as const)));
  }),
);

const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
const gguf = (bytes: Uint8Array): ModelFiles => ({ kind: 'gguf', file: memorySource(bytes, 'model.gguf') });

describe('fuzzed GGUF files', () => {
  const seed = fuzzSeed();
  it(`mutated GGUF files (FUZZ_SEED=${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(GGUF_SEEDS.length - 1), mutations, async (which, edits) => {
        const { bytes, head } = GGUF_SEEDS[which];
        const file = mutate(bytes, edits, head);
        await outcome(MODEL_ERRORS, file.length, () => useModel(gguf(file)));
      }),
      fuzzParams(seed),
    );
  });

  /** A metadata value of any GGUF type, often not the one the key should have. */
  const ggufValue: fc.Arbitrary<Omit<GgufEntry, 'key'>> = fc.oneof(
    fc.record({
      type: fc.constantFrom(
        'u8' as const,
        'u16' as const,
        'u32' as const,
        'i32' as const,
        'u64' as const,
        'i64' as const,
      ),
      value: fc.oneof(fc.integer({ min: -1, max: 1 << 20 }), fc.constantFrom(0, 2 ** 31 - 1, 2 ** 32 - 1)),
    }),
    fc.record({ type: fc.constantFrom('f32' as const, 'f64' as const), value: fc.double() }),
    fc.record({ type: fc.constant('bool' as const), value: fc.boolean() }),
    fc.record({
      type: fc.constant('string' as const),
      value: fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom('llama', 'gpt2', 'qwen2', 'none', 'linear', 'default', 'llama-bpe'),
      ),
    }),
    fc.record({
      type: fc.constant('array' as const),
      itemType: fc.constant('string' as const),
      value: fc.array(fc.string({ maxLength: 6 }), { maxLength: 12 }),
    }),
    fc.record({
      type: fc.constant('array' as const),
      itemType: fc.constantFrom('i32' as const, 'u8' as const),
      value: fc.array(fc.integer({ min: -1, max: 12 }), { maxLength: 12 }),
    }),
    fc.record({
      type: fc.constant('array' as const),
      itemType: fc.constant('f32' as const),
      value: fc.array(fc.double(), { maxLength: 12 }),
    }),
  ) as fc.Arbitrary<Omit<GgufEntry, 'key'>>;
  const keys = [
    ...new Set([
      ...TINY_ENTRIES.map((e) => e.key),
      'general.alignment',
      'llama.context_length',
      'llama.rope.freq_base',
      'llama.rope.dimension_count',
      'llama.attention.key_length',
      'llama.rope.scaling.type',
      'tokenizer.ggml.scores',
      'tokenizer.ggml.unknown_token_id',
      'tokenizer.ggml.add_bos_token',
      'tokenizer.ggml.add_space_prefix',
    ]),
  ];
  const seed2 = fuzzSeed();
  it(`GGUF metadata of the wrong type or value (FUZZ_SEED=${seed2})`, async () => {
    const edit = fc.record({ key: fc.constantFrom(...keys), drop: fc.boolean(), value: ggufValue });
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.boolean(), async (edits, spm) => {
        let entries = spm
          ? TINY_ENTRIES.filter((e) => !e.key.startsWith('tokenizer.')).concat(
              { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
              {
                key: 'tokenizer.ggml.tokens',
                type: 'array',
                itemType: 'string',
                value: ['<unk>', '<s>', '</s>', '▁h', 'e', '<0x41>'],
              },
              { key: 'tokenizer.ggml.scores', type: 'array', itemType: 'f32', value: [0, 0, 0, -1, -2, -3] },
              { key: 'tokenizer.ggml.token_type', type: 'array', itemType: 'i32', value: [2, 3, 3, 1, 1, 6] },
            )
          : TINY_ENTRIES;
        for (const e of edits) {
          entries = entries.filter((x) => x.key !== e.key);
          if (!e.drop) entries.push({ key: e.key, ...e.value } as GgufEntry);
        }
        let file: Uint8Array;
        try {
          file = concatParts(writeGguf(entries, TINY_TENSORS));
        } catch {
          return; // the writer itself refuses (e.g. a bad alignment): nothing to read
        }
        await outcome(MODEL_ERRORS, file.length, () => useModel(gguf(file)));
      }),
      fuzzParams(seed2),
    );
  });

  const seed3 = fuzzSeed();
  it(`random bytes after a GGUF magic and version (FUZZ_SEED=${seed3})`, async () => {
    const prefixes = [new Uint8Array(0), Uint8Array.from([0x47, 0x47, 0x55, 0x46, 3, 0, 0, 0])];
    await fc.assert(
      fc.asyncProperty(fc.nat(1), fc.uint8Array({ maxLength: 2048 }), async (p, rest) => {
        const file = new Uint8Array([...prefixes[p], ...rest]);
        await outcome(MODEL_ERRORS, file.length, () => useModel(gguf(file)));
      }),
      fuzzParams(seed3),
    );
  });
});

describe('fuzzed llama2.c checkpoints and tokenizer.bin', () => {
  const seed = fuzzSeed();
  it(`mutated llama2.c checkpoints (stories260K.bin and a tiny one) and tok512.bin (FUZZ_SEED=${seed})`, async () => {
    // Checkpoint edits aim at the 28-byte header (sizes); tokenizer edits anywhere (lengths are everywhere).
    await fc.assert(
      fc.asyncProperty(
        fc.nat(LLAMA2C_SEEDS.length - 1),
        fc.option(mutations),
        fc.option(mutations),
        async (which, binEdits, tokEdits) => {
          const seedBin = LLAMA2C_SEEDS[which];
          const bin = binEdits ? mutate(seedBin, binEdits, 28) : seedBin;
          const tok = tokEdits ? mutate(TOK512, tokEdits, TOK512.length) : TOK512;
          const files: ModelFiles = {
            kind: 'llama2c',
            file: memorySource(bin, 'model.bin'),
            tokenizer: memorySource(tok, 'tokenizer.bin'),
          };
          await outcome(MODEL_ERRORS, bin.length + tok.length, () => useModel(files));
        },
      ),
      fuzzParams(seed),
    );
  });

  const seed2 = fuzzSeed();
  it(`random llama2.c headers and tokenizers (FUZZ_SEED=${seed2})`, async () => {
    const header = fc.array(
      fc.oneof(fc.integer({ min: -4, max: 600 }), fc.constantFrom(2 ** 31 - 1, -(2 ** 31), 1 << 20)),
      { minLength: 7, maxLength: 7 },
    );
    await fc.assert(
      fc.asyncProperty(header, fc.nat(4096), randomBytes(new Uint8Array(0), 512), async (h, extra, tok) => {
        const bin = new Uint8Array(28 + extra);
        new Int32Array(bin.buffer, 0, 7).set(h);
        const files: ModelFiles = {
          kind: 'llama2c',
          file: memorySource(bin, 'model.bin'),
          tokenizer: memorySource(tok, 'tokenizer.bin'),
        };
        await outcome(MODEL_ERRORS, bin.length + tok.length, () => useModel(files));
      }),
      fuzzParams(seed2),
    );
  });
});

describe('fuzzed Hugging Face folders', () => {
  const text = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const parse = async (src: ByteSource) => JSON.parse(new TextDecoder().decode(await bytesOf(src))) as JsonValue;
  const asFiles = (files: Map<string, Uint8Array>): ModelFiles => ({
    kind: 'hf',
    files: new Map([...files].map(([n, b]) => [n, memorySource(b, n)])),
  });

  /** A safetensors file whose header JSON is edited; the length prefix is kept true unless the bytes lie. */
  async function editSafetensors(bytes: Uint8Array, edits: Parameters<typeof editJson>[1]): Promise<Uint8Array> {
    let header: JsonValue;
    let n: number;
    try {
      n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
      header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as JsonValue;
    } catch {
      return bytes; // an earlier edit broke the header: no JSON left to edit
    }
    const json = text(editJson(header, edits));
    const out = new Uint8Array(8 + json.length + bytes.length - 8 - n);
    new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
    out.set(json, 8);
    out.set(bytes.subarray(8 + n), 8 + json.length);
    return out;
  }

  const edit = fc.record({
    file: fc.nat(),
    how: fc.constantFrom('json' as const, 'bytes' as const, 'drop' as const),
    json: jsonEdits,
    bytes: mutations,
  });
  const seed = fuzzSeed();
  it(`config.json, safetensors (single and sharded), index and tokenizer files edited (FUZZ_SEED=${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat(1), fc.array(edit, { minLength: 1, maxLength: 3 }), async (which, edits) => {
        const files = new Map(HF_FOLDERS[which]);
        for (const e of edits) {
          const names = [...files.keys()];
          if (!names.length) break;
          const name = names[e.file % names.length];
          const bytes = files.get(name)!;
          if (e.how === 'drop') files.delete(name);
          else if (e.how === 'bytes')
            files.set(name, mutate(bytes, e.bytes, name.endsWith('.safetensors') ? 512 : bytes.length));
          else if (name.endsWith('.safetensors')) files.set(name, await editSafetensors(bytes, e.json));
          else {
            const doc = await parse(memorySource(bytes)).catch(() => undefined); // an earlier edit may have broken it
            if (doc !== undefined) files.set(name, text(editJson(doc, e.json)));
          }
        }
        const size = [...files.values()].reduce((n, b) => n + b.length, 0);
        await outcome(MODEL_ERRORS, size, () => useModel(asFiles(files)));
      }),
      fuzzParams(seed),
    );
  });

  const seed2 = fuzzSeed();
  it(`tokenizer.json and tokenizer_config.json edited (FUZZ_SEED=${seed2})`, async () => {
    const tok = tinyTokenizer('postProcessor');
    const fallback = fc.record({ bosId: fc.option(nastyJson), eosId: fc.option(nastyJson) });
    await fc.assert(
      fc.asyncProperty(jsonEdits, fc.option(jsonEdits), fallback, async (edits, cfgEdits, ids) => {
        const json = editJson(tok.tokenizerJson as unknown as JsonValue, edits);
        const config = cfgEdits ? editJson(tok.tokenizerConfig as unknown as JsonValue, cfgEdits) : tok.tokenizerConfig;
        // describeHf hands over JSON objects only (anything else is refused as it is read).
        if (!isObject(json) || !isObject(config)) return;
        await outcome(MODEL_ERRORS, 2 ** 16, () => {
          const t = new HfTokenizer(
            json as Record<string, unknown>,
            config as Record<string, unknown>,
            ids as { bosId?: number; eosId?: number },
          );
          useTokenizer(t);
        });
      }),
      fuzzParams(seed2),
    );
  });
});
