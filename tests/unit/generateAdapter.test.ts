// Generation with a trained adapter through the KV cache (forwardCached / generate() with `adapted`), on the
// real stories260K and on a random Q8_0 GGUF with GQA, for LoRA and for MTL-LoRA with two tasks, every target
// adapted (q, k, v, o, gate, up, down) and every parameter random and non-zero (tests/helpers/exportFixtures):
// (a) at every step (prefill, then one token at a time) the cached logits equal those of the adapter-aware
//     full forward (adapterForwardLogits), and on the random model each step's next-token log-probability
//     equals the float64 specification's (src/reference/llamaAdapter.ts);
// (b) greedy generate() with the adapter picks exactly the tokens of evaluation's batched greedyDecode, for a
//     prompt decoded beside another (shorter, with its own token limit) in one batched cache: sequences of a
//     batch do not see each other;
// (c) the adapter (and MTL-LoRA's task) changes the output, by far more than the tolerance.
// Speed (the cache against recomputing every step) is measured by `npm run bench -- generate`, not here.
//
// Tolerances. Cached vs full forward, per position as the oracle tests measure logits: max|Δ| / max|logit|.
// Both paths run the same f32 kernels on the same inputs except in two places — the attention (one key at a
// time in attention_decode, blocks of four in attention_fwd) and the adapter's matmuls, whose kernel variant
// may depend on the token count (1 when decoding, the sequence when not). Each is a dot product summed in
// another order: per output a rounding difference of typically √K·u (u = 2⁻²⁴, K ≤ 512: ≈ 1.4e-6 of its
// scale; the worst case 2γ_K = 2K·u/(1−K·u) is 2√K ≈ 45× that), carried to the logits through ~21 sequential
// products (5 layers × 4 + the head), so ≲ 3e-5 without cancellation. The bound is 1e-4, as the export
// oracle's for two f32 engines differing in summation order; measured ≤ 6e-6 (printed). A site missing on
// either path, the wrong task or a stale cache row moves logits by O(1): the adapter's own effect (printed,
// ~0.4–1.5) must exceed 100× the bound.
// Against float64: each step's next-token NLL, lse(row) − row[next] in float64 from the cached f32 row, vs the
// reference's per-token loss; the bound 1e-5·(1 + NLL) is trainStep.test.ts's for the same quantity from the
// full forward (≈ γ_K for the K ≈ 160-deep dots here), measured ≤ 5e-7 (printed).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_TARGETS,
  type Adapter,
  type AdapterRun,
  type LoraSettings,
  type MtlLoraSettings,
} from '../../src/adapters/types';
import { adapterFromData } from '../../src/cli/adapterDir';
import { adapterForwardLogits } from '../../src/cli/logits';
import type { AdapterData } from '../../src/export/adapterData';
import type { ByteSource } from '../../src/io/byteSource';
import { generate } from '../../src/model/generate';
import { KvCache, forwardCached } from '../../src/model/kvCache';
import { type LoadedModel, loadModel } from '../../src/model/load';
import { openModelPath } from '../../src/model/openPath';
import { argmax } from '../../src/model/sampling';
import { releaseWeights } from '../../src/model/weights';
import type { LlamaRefWeights } from '../../src/reference/llama';
import { type RefAdapter, llamaAdapterLossRef } from '../../src/reference/llamaAdapter';
import { greedyDecode } from '../../src/train/decode';
import { generateText } from '../../src/worker/playground';
import { type AdapterSpec, randomAdapterData } from '../helpers/exportFixtures';
import { gpu } from '../helpers/gpu';
import { freshSeed } from '../helpers/random';
import { BOS, type RandomModelSpec, tempDir, writeRandomGguf } from '../helpers/randomModel';
import { sharedPath } from '../helpers/shared';

const seed = freshSeed();
const LOGIT_TOL = 1e-4;
const NLL_TOL = 1e-5;
const STEPS = 20;
const SPEED_TOKENS = 64;

const SPEC: RandomModelSpec = {
  dim: 64,
  hiddenDim: 160,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 2,
  vocabSize: 300,
  normEps: 1e-5,
  ropeTheta: 10000,
  tied: false,
  type: 'Q8_0',
  seed,
};

interface Base {
  name: string;
  model: LoadedModel;
  prompt: number[];
  /** Host weights for the float64 reference (the random model only). */
  ref?: LlamaRefWeights;
  /** A trained model (its greedy text reacts to an adapter; a random one's may not). */
  real: boolean;
}

const bases: Base[] = [];
const sources: ByteSource[] = [];
const dir = tempDir('gen-adapter-');

beforeAll(async () => {
  const ctx = await gpu();
  const stories = await openModelPath(sharedPath('models/stories260K/stories260K.bin'), {
    tokenizer: sharedPath('models/stories260K/tok512.bin'),
  });
  const random = writeRandomGguf(dir.dir, 'random', SPEC);
  const gguf = await openModelPath(random.path);
  if (stories.kind === 'llama2c') sources.push(stories.file, ...(stories.tokenizer ? [stories.tokenizer] : []));
  if (gguf.kind === 'gguf') sources.push(gguf.file);
  bases.push({
    name: 'stories260K',
    model: await loadModel(ctx, stories),
    prompt: [1, 403, 407, 261, 378],
    real: true,
  }); // BOS + "Once upon a time"
  bases.push({
    name: 'random Q8_0 GGUF',
    model: await loadModel(ctx, gguf),
    prompt: [BOS, 270, 9, 281, 33, 299],
    ref: random.weights,
    real: false,
  });
});

afterAll(async () => {
  bases.forEach((b) => releaseWeights(b.model.weights));
  await Promise.all(sources.map((s) => s.close?.()));
  dir.remove();
});

const ADAPTERS: { label: string; spec: Omit<AdapterSpec, 'seed'>; tasks: number[] }[] = [
  { label: 'LoRA', spec: { method: 'lora', rank: 4, alpha: 8, targets: ALL_TARGETS }, tasks: [0] },
  {
    label: 'MTL-LoRA',
    spec: { method: 'mtl-lora', rank: 4, alpha: 8, targets: ALL_TARGETS, tasks: ['a', 'b'], nUp: 3, tau: 0.5 },
    tasks: [0, 1],
  },
];

/** The adapter on the GPU, with its host data (for the reference). */
async function adapterOn(
  base: Base,
  spec: Omit<AdapterSpec, 'seed'>,
): Promise<{ adapter: Adapter; data: AdapterData }> {
  const data = randomAdapterData(base.model.config, { ...spec, seed: seed + 1 });
  return { adapter: adapterFromData(await gpu(), base.model.config, data), data };
}

const runOf = (adapter: Adapter, task: number): AdapterRun => ({ task, dropoutSeed: 0, params: adapter.params });

/** The reference's view of the adapter: its tensors by name, as task `task`. */
function refAdapter(data: AdapterData, spec: Omit<AdapterSpec, 'seed'>, task: number): RefAdapter {
  const params = new Map([...data.tensors].map(([name, t]) => [name, t.data]));
  const lora: LoraSettings = { rank: spec.rank, alpha: spec.alpha, dropout: 0, targets: spec.targets };
  if (spec.method === 'lora') return { kind: 'lora', settings: lora, params, dropoutSeed: 0 };
  const settings: MtlLoraSettings = {
    ...lora,
    nUp: spec.nUp!,
    tau: spec.tau!,
    tasks: spec.tasks!.length,
    wInit: 'kaiming',
  };
  return { kind: 'mtl-lora', settings, params, dropoutSeed: 0, task };
}

function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return max + Math.log(sum);
}

describe(`generation with an adapter through the KV cache (seed ${seed})`, () => {
  it('(a) cached logits equal the full adapter forward at every step, and the float64 reference', async () => {
    const ctx = await gpu();
    for (const base of bases) {
      const { config: cfg } = base.model;
      const V = cfg.vocabSize;
      for (const { label, spec, tasks } of ADAPTERS) {
        const { adapter, data } = await adapterOn(base, spec);
        for (const task of tasks) {
          const adapted = { adapter, run: runOf(adapter, task) };
          const cache = KvCache.create(ctx, cfg, base.prompt.length + STEPS);
          const ids = [...base.prompt];
          const rows: Float32Array[] = [];
          let worst = 0;
          let effect = 0;
          for (let step = 0; step <= STEPS; step++) {
            const cached = forwardCached(
              ctx,
              base.model.weights,
              cfg,
              cache,
              step === 0 ? ids : ids.slice(-1),
              adapted,
            );
            const full = adapterForwardLogits(ctx, base.model, adapter, adapted.run, Uint32Array.from(ids), true);
            const scratch = KvCache.create(ctx, cfg, ids.length);
            const plain = forwardCached(ctx, base.model.weights, cfg, scratch, ids);
            scratch.release();
            const [got, want, baseRow] = [await ctx.read(cached), await ctx.read(full), await ctx.read(plain)];
            [cached, full, plain].forEach((t) => t.release());
            expect(got.length).toBe(V);
            // Per position, as the oracle tests measure logits: max |Δ| over the row's largest |logit|.
            const scale = Math.max(...want.map(Math.abs));
            let diff = 0;
            let moved = 0;
            for (let i = 0; i < V; i++) {
              diff = Math.max(diff, Math.abs(got[i] - want[i]));
              moved = Math.max(moved, Math.abs(baseRow[i] - want[i]));
            }
            const rel = diff / scale;
            if (!(rel <= LOGIT_TOL))
              throw new Error(`${base.name} ${label} task ${task}, step ${step}: cached vs full ${rel}`);
            worst = Math.max(worst, rel);
            effect = Math.max(effect, moved / scale);
            rows.push(got);
            ids.push(argmax(want));
          }
          cache.release();
          console.log(
            `${base.name}, ${label} task ${task}: cached vs full max|Δ|/max|logit| = ${worst.toExponential(2)}; ` +
              `adapter effect ${effect.toExponential(2)}`,
          );
          expect(effect).toBeGreaterThan(100 * LOGIT_TOL);

          if (!base.ref) continue;
          // Float64 anchor: every cached step's NLL of the next token vs the reference's per-token loss.
          const S = ids.length;
          const targets = ids.map((_, t) => (t + 1 < S ? ids[t + 1] : -1));
          const want = llamaAdapterLossRef(
            base.ref,
            cfg,
            { B: 1, S, tokens: ids, targets, lengths: [S] },
            refAdapter(data, spec, task),
          ).losses;
          let nllWorst = 0;
          rows.forEach((row, step) => {
            const p = base.prompt.length - 1 + step;
            const nll = logSumExp(row) - row[ids[p + 1]];
            const err = Math.abs(nll - want[p]);
            nllWorst = Math.max(nllWorst, err / (1 + want[p]));
            expect(err, `${label} task ${task}, position ${p}: NLL ${nll} vs reference ${want[p]}`).toBeLessThanOrEqual(
              NLL_TOL * (1 + want[p]),
            );
          });
          console.log(
            `${base.name}, ${label} task ${task}: cached NLL vs float64 max |Δ|/(1+NLL) = ${nllWorst.toExponential(2)}`,
          );
        }
        adapter.release();
      }
    }
  });

  it('(b, c) greedy generate() with the adapter = batched greedyDecode; differs from the base and per task', async () => {
    const ctx = await gpu();
    for (const base of bases) {
      const { model, prompt } = base;
      const baseline = (
        await generate(ctx, model.weights, model.config, prompt, { maxNewTokens: SPEED_TOKENS, greedy: true })
      ).tokens;
      for (const { label, spec, tasks } of ADAPTERS) {
        const { adapter } = await adapterOn(base, spec);
        const outputs: number[][] = [];
        for (const task of tasks) {
          const run = runOf(adapter, task);
          const streamed: number[] = [];
          const r = await generate(ctx, model.weights, model.config, prompt, {
            maxNewTokens: SPEED_TOKENS,
            greedy: true,
            adapted: { adapter, run },
            onToken: (id) => streamed.push(id),
          });
          const other = prompt.slice(0, -2);
          const alone = await generate(ctx, model.weights, model.config, other, {
            maxNewTokens: 9,
            greedy: true,
            adapted: { adapter, run },
          });
          const [decoded, beside] = await greedyDecode(ctx, model, adapter, run, [prompt, other], {
            maxNewTokens: [SPEED_TOKENS, 9],
            eosId: null,
          });
          expect(r.tokens, `${base.name} ${label} task ${task}`).toEqual(decoded);
          expect(alone.tokens, `${base.name} ${label} task ${task}, the shorter prompt`).toEqual(beside);
          expect(streamed).toEqual(r.tokens);
          expect(r.tokens).toHaveLength(SPEED_TOKENS);
          // Greedy text differing is checked on the real model only: a random model's greedy output often
          // collapses to one repeated token with or without the adapter (test (a) checks its logits move).
          if (base.real) expect(r.tokens, `${base.name} ${label} task ${task} vs base`).not.toEqual(baseline);
          outputs.push(r.tokens);
        }
        if (base.real && outputs.length === 2)
          expect(outputs[1], `${base.name} ${label}: task 1 vs task 0`).not.toEqual(outputs[0]);
        adapter.release();
      }
    }
  }, 300_000); // ~400 cached single-token passes: generous on a loaded 2-core machine

  it('sampling with an adapter: a seed repeats its tokens, the adapter changes them; the playground passes it through', async () => {
    const ctx = await gpu();
    const { model, prompt } = bases[0];
    const tok = model.tokenizer!;
    const { adapter } = await adapterOn(bases[0], ADAPTERS[1].spec);
    const options = { maxNewTokens: 24, temperature: 0.8, topP: 0.95, seed: 7 };
    const sample = (task: number | null) =>
      generate(ctx, model.weights, model.config, prompt, {
        ...options,
        adapted: task === null ? undefined : { adapter, run: runOf(adapter, task) },
      });
    const a = await sample(1);
    expect((await sample(1)).tokens).toEqual(a.tokens);
    expect(a.seed).toBe(7);
    expect((await sample(null)).tokens).not.toEqual(a.tokens);
    expect((await sample(0)).tokens).not.toEqual(a.tokens);

    // The app's playground request with sampling fields: the same tokens, streamed as text.
    let streamed = '';
    const out = await generateText(
      ctx,
      model,
      tok,
      { adapter, task: 1, params: adapter.params },
      { runId: 'run', task: 1, prompt: 'Once upon a time', maxNewTokens: 24, temperature: 0.8, topP: 0.95, seed: 7 },
      (text) => {
        streamed = text;
      },
    );
    const eos = a.stoppedBy === 'eos' ? 1 : 0;
    expect(out.text).toBe(
      tok.decode([...prompt, ...a.tokens.slice(0, a.tokens.length - eos)]).slice(tok.decode(prompt).length),
    );
    expect(streamed).toBe(out.text);
    expect(out.tokens).toBe(a.tokens.length - eos);
    adapter.release();
  });
});
