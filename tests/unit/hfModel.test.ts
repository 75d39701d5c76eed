// Hugging Face folders end to end: random weights written as config.json + safetensors (single and sharded,
// F32/F16/BF16) give the same GPU logits as the same weights in a llama.cpp-layout GGUF (Q/K rows permuted,
// adjacent RoPE pairing); a Qwen2 folder (q/k/v biases) matches a float64 forward written here from the
// reference ops; tokenizer.json and the chat template work; bad folders are refused clearly.
//
// Tolerances. HF vs GGUF: the two models hold bit-identical weights and run the same kernels; only the order
// of Q/K rows differs, which reorders the q·k sums in attention (each score moves by ≤ γ_hd·Σ|q||k|, ~1e-6
// relative) — 1e-4 of the largest logit leaves two orders of magnitude of margin, while a wrong pairing or
// permutation changes logits by O(1). Qwen2 GPU vs float64: every op is tested against its reference with
// bounds of a few γ_K (K ≤ 100, γ ≈ 6e-6 relative); through two blocks and the head the observed error is
// ~1e-6 of the largest logit, and 1e-4 bounds it while a dropped bias (|b| ~ 0.5) moves logits by ~1.

import { describe, expect, it } from 'vitest';
import { type ByteSource, memorySource } from '../../src/io/byteSource';
import { ChatTemplate, ChatTemplateError } from '../../src/io/chatTemplate';
import { HfTokenizer } from '../../src/io/hfTokenizer';
import { concatParts } from '../../src/io/ggufWriter';
import { writeSafetensors } from '../../src/io/safetensors';
import { type LlamaConfig, llama3FreqFactors } from '../../src/model/config';
import { forwardLogits } from '../../src/model/forward';
import { describeModel, loadModel } from '../../src/model/load';
import { releaseWeights } from '../../src/model/weights';
import { attentionRef } from '../../src/reference/attention';
import { biasAddRef } from '../../src/reference/biasAdd';
import { addRef } from '../../src/reference/elementwise';
import { embeddingRef } from '../../src/reference/embedding';
import { type HostWeight, linearRef } from '../../src/reference/linear';
import { rmsnormRef } from '../../src/reference/rmsnorm';
import { ropeRef } from '../../src/reference/rope';
import { swigluRef } from '../../src/reference/swiglu';
import { gpu } from '../helpers/gpu';
import { freshSeed, rng } from '../helpers/random';
import {
  type FloatDtype,
  type HfWeights,
  type RandomModelSpec,
  CHATML_TEMPLATE,
  hfFolder,
  llamaGguf,
  randomHfWeights,
  storedValues,
  tinyTokenizer,
} from '../helpers/randomHfModel';

const seed = freshSeed();
const VOCAB = tinyTokenizer().vocabSize; // 272: the folder's tokenizer and the model agree
// Query heads ≠ KV heads, head dim 12, dims that are not multiples of 64.
const LLAMA: RandomModelSpec = {
  modelType: 'llama',
  dim: 72,
  hiddenDim: 100,
  nLayers: 2,
  nHeads: 6,
  nKvHeads: 2,
  vocabSize: VOCAB,
  tied: false,
};
const QWEN2: RandomModelSpec = {
  modelType: 'qwen2',
  dim: 56,
  hiddenDim: 90,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  vocabSize: VOCAB,
  tied: true,
};
const TOKENS = Uint32Array.of(270, 259, 264, 3, 100, 268, 271, 5, VOCAB - 1);

/** max |got − want| / max |want|. */
function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

async function gpuLogits(files: Parameters<typeof loadModel>[1]) {
  const ctx = await gpu();
  const m = await loadModel(ctx, files);
  const t = forwardLogits(ctx, m.weights, m.config, TOKENS);
  const logits = await ctx.read(t);
  t.release();
  releaseWeights(m.weights);
  return { logits, config: m.config };
}

describe(`Hugging Face folders vs llama.cpp-layout GGUF (seed ${seed})`, () => {
  const cases: { dtype: FloatDtype; shards: number; tied: boolean; llama3?: boolean }[] = [
    { dtype: 'F32', shards: 1, tied: false, llama3: true },
    { dtype: 'F16', shards: 3, tied: true },
    { dtype: 'BF16', shards: 2, tied: false },
  ];
  for (const c of cases) {
    const label =
      `${c.dtype}, ${c.shards === 1 ? 'model.safetensors' : `${c.shards} shards + index`}, ` +
      `${c.tied ? 'tied' : 'untied'} head${c.llama3 ? ', Llama-3 rope scaling' : ''}`;
    it(`${label}: same logits at every position`, async () => {
      const spec: RandomModelSpec = {
        ...LLAMA,
        tied: c.tied,
        ...(c.llama3
          ? { ropeScaling: { factor: 4, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 16 } }
          : {}),
      };
      const w = randomHfWeights(spec, rng(seed + c.shards));
      const hf = await gpuLogits({ kind: 'hf', files: hfFolder(spec, w, c.dtype, c.shards) });
      const factors = llama3FreqFactors(hf.config) ?? undefined;
      if (c.llama3) expect(new Set(factors).size).toBeGreaterThan(1); // the scaling really changes frequencies
      const gg = await gpuLogits({ kind: 'gguf', file: llamaGguf(spec, w, c.dtype, factors) });
      expect(hf.config).toMatchObject({ ropePairing: 'half', tiedEmbeddings: c.tied, nKvHeads: 2, headDim: 12 });
      expect(gg.config.ropePairing).toBe('adjacent');
      expect(relErr(hf.logits, gg.logits)).toBeLessThanOrEqual(1e-4);
    });
  }
});

/** Float64 Qwen2 forward on the stored weights, from the op references (HF names, rotate-half RoPE, biases). */
function qwen2Ref(w: HfWeights, dtype: FloatDtype, cfg: LlamaConfig, tokens: ArrayLike<number>): Float64Array {
  const T = tokens.length;
  const { dim: D, nHeads, nKvHeads, headDim, normEps: eps } = cfg;
  const host = (name: string): HostWeight => {
    const { shape, values } = w.get(name)!;
    return {
      type: 'f32',
      rows: shape[0],
      cols: shape[1],
      bytes: new Uint8Array(storedValues(values, dtype).slice().buffer),
    };
  };
  const vec = (name: string) => w.get(name)!.values; // 1-D tensors are stored as F32
  const pos = Array.from({ length: T }, (_, i) => i);
  const rope = { T, headDim, theta: cfg.ropeTheta, pairing: 'half' as const };
  let x = embeddingRef(host('model.embed_tokens.weight'), tokens, T);
  for (let l = 0; l < cfg.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const n1 = rmsnormRef(x, vec(`${p}input_layernorm.weight`), { T, D, eps }).y;
    const proj = (m: string) =>
      biasAddRef(linearRef(n1, host(`${p}self_attn.${m}_proj.weight`), T), vec(`${p}self_attn.${m}_proj.bias`), T);
    const q = ropeRef(proj('q'), pos, { ...rope, nHeads });
    const k = ropeRef(proj('k'), pos, { ...rope, nHeads: nKvHeads });
    const { o } = attentionRef(q, k, proj('v'), [T], { B: 1, S: T, H: nHeads, KV: nKvHeads, hd: headDim });
    x = addRef(x, linearRef(o, host(`${p}self_attn.o_proj.weight`), T));
    const n2 = rmsnormRef(x, vec(`${p}post_attention_layernorm.weight`), { T, D, eps }).y;
    const h = swigluRef(
      linearRef(n2, host(`${p}mlp.gate_proj.weight`), T),
      linearRef(n2, host(`${p}mlp.up_proj.weight`), T),
    );
    x = addRef(x, linearRef(h, host(`${p}mlp.down_proj.weight`), T));
  }
  return linearRef(rmsnormRef(x, vec('model.norm.weight'), { T, D, eps }).y, host('model.embed_tokens.weight'), T);
}

describe(`Qwen2 folder (q/k/v biases, tied head) vs float64 (seed ${seed})`, () => {
  for (const dtype of ['F32', 'F16'] as const) {
    it(`${dtype}: GPU logits match the float64 forward`, async () => {
      const w = randomHfWeights(QWEN2, rng(seed + 7));
      const { logits, config } = await gpuLogits({ kind: 'hf', files: hfFolder(QWEN2, w, dtype) });
      expect(config).toMatchObject({ arch: 'qwen2', qkvBias: true, ropePairing: 'half', tiedEmbeddings: true });
      expect(relErr(logits, qwen2Ref(w, dtype, config, TOKENS))).toBeLessThanOrEqual(1e-4);
    });
  }
});

const text = (s: string) => memorySource(new TextEncoder().encode(s), 'file');

describe('HF tokenizer and chat template', () => {
  it('encodes and decodes through tokenizer.json; BOS as the post-processor or tokenizer_config says', async () => {
    const m = await describeModel({ kind: 'hf', files: hfFolder(LLAMA, randomHfWeights(LLAMA, rng(seed)), 'F32') });
    const tok = m.tokenizer as HfTokenizer;
    expect(tok).toMatchObject({ vocabSize: VOCAB, bosId: 270, eosId: 271, bosToken: '<|im_start|>', addBos: false });
    expect(tok.encode('hello world')).toEqual([259, 264]); // merges applied, SmolLM2-style: no BOS
    const s = 'hello world, once upon a time! héllo wörld 🙂\n\ttabs';
    expect(tok.decode(tok.encode(s))).toBe(s);
    expect(tok.decode([270, 259, 271])).toBe('hello'); // special tokens are skipped
    for (const bosVia of ['postProcessor', 'config'] as const) {
      const t = tinyTokenizer(bosVia);
      const withBos = new HfTokenizer(t.tokenizerJson, t.tokenizerConfig);
      expect(withBos.encode('hello time')).toEqual([270, 259, 268]);
      expect(withBos.encode('hello', { bos: false })).toEqual([259]);
    }
  });

  it('applies the chat template and tokenizes its special tokens as single ids', async () => {
    const m = await describeModel({ kind: 'hf', files: hfFolder(LLAMA, randomHfWeights(LLAMA, rng(seed)), 'F32') });
    expect(m.chatTemplate).toBe(CHATML_TEMPLATE);
    const chat = new ChatTemplate(m.chatTemplate!);
    const prompt = chat.apply([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hello' },
    ]);
    expect(prompt).toBe(
      '<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n',
    );
    const ids = m.tokenizer!.encode(prompt);
    expect(ids.filter((i) => i === 270).length).toBe(3);
    expect(ids.filter((i) => i === 271).length).toBe(2);
    expect(ids).toContain(259); // "hello" inside the template text still merges
    expect(chat.apply([{ role: 'user', content: 'x' }], { addGenerationPrompt: false })).toBe(
      '<|im_start|>user\nx<|im_end|>\n',
    );
    expect(() => new ChatTemplate('{% for m in messages %}')).toThrow(ChatTemplateError);
    const strict = new ChatTemplate(
      "{% if messages[0]['role'] != 'user' %}{{ raise_exception('user first') }}{% endif %}",
    );
    expect(() => strict.apply([{ role: 'assistant', content: 'hi' }])).toThrow(/user first/);
  });
});

describe('bad Hugging Face folders', () => {
  const folder = (shards = 1) => hfFolder(LLAMA, randomHfWeights(LLAMA, rng(seed)), 'F32', shards);
  const refused = (files: Map<string, ByteSource>) => describeModel({ kind: 'hf', files });

  it('refuses missing weights, missing shards and shards that disagree with the index', async () => {
    const noWeights = folder();
    noWeights.delete('model.safetensors');
    await expect(refused(noWeights)).rejects.toThrow(/no model\.safetensors and no model\.safetensors\.index\.json/);
    const noIndex = folder(2);
    noIndex.delete('model.safetensors.index.json');
    await expect(refused(noIndex)).rejects.toThrow(
      /found model-00001-of-00002\.safetensors, .*shards need their index/,
    );
    const missing = folder(3);
    missing.delete('model-00002-of-00003.safetensors');
    await expect(refused(missing)).rejects.toThrow(
      /lists 1 shard\(s\) that are not in the folder: model-00002-of-00003/,
    );
    const swapped = folder(2);
    const [a, b] = ['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors'];
    const first = swapped.get(a)!;
    swapped.set(a, swapped.get(b)!);
    swapped.set(b, first);
    await expect(refused(swapped)).rejects.toThrow(/holds .*, but model\.safetensors\.index\.json places it in/);
  });

  it('refuses unsupported dtypes, foreign tensors, bad JSON and other architectures', async () => {
    const st = (dtype: 'F64' | 'F32', name: string, n: number) =>
      memorySource(
        concatParts(
          writeSafetensors([{ name, dtype, shape: [n], data: new Uint8Array(n * (dtype === 'F64' ? 8 : 4)) }]),
        ),
        'model.safetensors',
      );
    const f64 = folder();
    f64.set('model.safetensors', st('F64', 'model.norm.weight', 72));
    await expect(refused(f64)).rejects.toThrow(/model\.norm\.weight is F64; only F32, F16 and BF16/);
    const foreign = folder();
    foreign.set('model.safetensors', st('F32', 'model.layers.0.mlp.gate_proj.bias', 100));
    await expect(refused(foreign)).rejects.toThrow(/gate_proj\.bias is not part of a LLaMA or Qwen2 model/);
    const badJson = folder();
    badJson.set('config.json', text('{"model_type": "llama",'));
    await expect(refused(badJson)).rejects.toThrow(/not valid JSON/);
    const mistral = folder();
    mistral.set('config.json', text(JSON.stringify({ model_type: 'mistral' })));
    await expect(refused(mistral)).rejects.toThrow(/model_type "mistral" is not supported/);
    const noConfig = folder();
    noConfig.delete('config.json');
    await expect(refused(noConfig)).rejects.toThrow(/needs config\.json/);
  });
});
