// One training step on the GPU: the forward pass with the adapter (keeping activations), the masked mean
// cross-entropy (docs/DESIGN.md §4: completion tokens only), and the backward into the adapter's parameters only.
// Nothing is read back: the step returns the {Σ loss, token count} tensor and the caller reads it when it
// logs. Gradients accumulate (+=) into `grads`, so a caller zeroes them first (createGrads, or paramOps.fill)
// and may sum several batches into one list.

import type { Adapter, AdapterRun } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { TensorPack } from '../gpu/tensorPack';
import type { LlamaConfig } from '../model/config';
import type { ModelWeights } from '../model/weights';
import { embedding } from '../ops/embedding';
import { checkPaired, fill } from '../ops/paramOps';
import { rmsnorm, rmsnormBackward } from '../ops/rmsnorm';
import { SplitKReduce } from '../ops/splitK';
import { type BlockActivations, type StepEnv, blockBackward, blockForward, releaseActivations } from './block';
import { type HeadLossOptions, headLossBackward, headLosses } from './headLoss';

export interface TrainModel {
  weights: ModelWeights;
  config: LlamaConfig;
}

/** The split-K arena's first size: a SmolLM2-135M block's q, k, v, o partials at 16 × 256 tokens, K = 4. */
const REDUCE_ARENA_ELEMENTS = 2 ** 20;

/**
 * B sequences padded to S tokens, row-major [B·S]. targets[i] is the token to predict at position i (the
 * caller has shifted them), −1 where nothing is scored: prompt tokens and padding (positions ≥ lengths[b]).
 */
export interface TrainBatch {
  B: number;
  S: number;
  tokens: Uint32Array;
  targets: Int32Array;
  lengths: Uint32Array;
}

export interface TrainStepOptions {
  /** How the head and loss are chunked (src/train/headLoss.ts); the default fits ≤ 32 MiB of logits per chunk. */
  head?: HeadLossOptions;
  /**
   * Keep only each block's input and recompute the block's forward during the backward: activation memory
   * drops from ~(13 + adapter) tensors per block to one, for one more forward pass. Same gradients, bit for bit.
   */
  recompute?: boolean;
}

/** A zeroed gradient list matching the adapter's parameters (the caller releases it). */
export function createGrads(ctx: GpuContext, adapter: Adapter): Tensor<'f32'>[] {
  const pack = TensorPack.like(ctx, adapter.params);
  if (pack) return pack.tensors;
  const grads = adapter.params.map((p) => ctx.tensor(p.shape));
  fill(ctx, grads, 0);
  return grads;
}

/** Number of scored tokens (targets ≥ 0): the mean's denominator, known on the host. */
export function scoredTokens(batch: TrainBatch): number {
  return batch.targets.reduce((n, t) => n + (t >= 0 ? 1 : 0), 0);
}

/** Scored tokens of each of G equal contiguous row groups of the batch. */
export function groupScoredTokens(batch: TrainBatch, G: number): number[] {
  const rows = batch.targets.length / G;
  return Array.from({ length: G }, (_, g) =>
    batch.targets.subarray(g * rows, (g + 1) * rows).reduce((n, t) => n + (t >= 0 ? 1 : 0), 0),
  );
}

/**
 * Throws unless `list` pairs with the adapter's parameters; in a grouped run each tensor must reach every
 * group's copy (strides[i] apart; 0: one copy).
 */
function checkRunList(
  adapter: Adapter,
  list: readonly Tensor<'f32'>[],
  strides: readonly number[] | undefined,
  run: AdapterRun,
  what: string,
): void {
  const g = run.groups;
  if (!g || !strides) return checkPaired('trainStep', adapter.params, list, what);
  const G = g.seeds.length;
  if (G < 1 || g.seqLens.length !== G)
    throw new Error(`trainStep: ${G} row groups with ${g.seqLens.length} sequence lengths`);
  if (list.length !== adapter.params.length || strides.length !== list.length) {
    throw new Error(
      `trainStep: ${adapter.params.length} parameters but ${list.length} ${what} tensors and ${strides.length} strides`,
    );
  }
  list.forEach((t, i) => {
    const n = adapter.params[i].numel;
    if (strides[i] !== 0 && strides[i] < n)
      throw new Error(`trainStep: ${what} ${i}'s group stride ${strides[i]} is under its ${n} elements`);
    if (t.numel < (G - 1) * strides[i] + n)
      throw new Error(`trainStep: ${what} ${i} does not reach all ${G} groups' copies`);
  });
}

/**
 * Records forward, loss and backward for `batch` with the adapter's sites computing from run.params, and
 * adds ∂(mean loss)/∂θ into `grads` (paired with adapter.params). Returns {Σ loss, scored tokens} [2] on
 * the GPU; the mean is their ratio. With run.groups the batch's rows are G equal groups (tasks), each its
 * own mean loss (gradients per group copy, or their sum), and the result is [2G], one pair per group.
 */
export function trainStep(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  batch: TrainBatch,
  run: AdapterRun,
  grads: Tensor<'f32'>[],
  opts: TrainStepOptions = {},
): Tensor<'f32'> {
  checkRunList(adapter, grads, run.groups?.gradStrides, run, 'gradient');
  const step = prepare(ctx, model, adapter, batch, run);
  const { env, T } = step;
  const { weights: w, config: cfg } = model;
  const { x, inputs, acts } = forwardBlocks(step, opts.recompute ? 'inputs' : 'all');

  const n = rmsnorm(ctx, x, w.outNorm, { T, D: cfg.dim, eps: cfg.normEps });
  // Each row group (task) is its own mean: 1 / its scored tokens, and its own {Σ loss, count}.
  const counts = groupScoredTokens(batch, run.groups?.seeds.length ?? 1);
  const { total, dn } = headLossBackward(
    ctx,
    w.head,
    n.y,
    step.targets,
    { T, D: cfg.dim, V: cfg.vocabSize },
    counts.map((c) => (c ? 1 / c : 0)),
    opts.head,
  );
  // The embedding is frozen, so the gradient stops at the first block's input.
  const dx = rmsnormBackward(ctx, dn, x, w.outNorm, n.rrms, { T, D: cfg.dim });
  [dn, n.y, n.rrms, x].forEach((t) => t.release());
  // One arena for the blocks' split-K partials (4 MiB, grown if a block needs more), reused block by block.
  const reduce = new SplitKReduce(ctx, REDUCE_ARENA_ELEMENTS);
  for (let l = cfg.nLayers - 1; l >= 0; l--) {
    let a = acts[l];
    if (opts.recompute) {
      const again = blockForward(env, l, inputs[l]);
      again.out.release();
      a = again.acts;
    }
    blockBackward(env, l, inputs[l], a, dx, grads, reduce);
    inputs[l].release();
  }
  reduce.release();
  dx.release();
  step.release();
  return total;
}

/**
 * Builds the pipelines of a step on B sequences of S tokens before the first step needs them (a dry run of
 * one step, GpuContext.warmPipelines): nothing executes and nothing the caller holds changes. Steps of other
 * shapes may pick a few other kernels, built on first use as before. Resolves with how many were built.
 */
export function warmTrainStep(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  B: number,
  S: number,
  opts: TrainStepOptions = {},
): Promise<number> {
  const T = B * S;
  const batch: TrainBatch = {
    B,
    S,
    tokens: new Uint32Array(T),
    lengths: new Uint32Array(B).fill(S),
    targets: Int32Array.from({ length: T }, (_, i) => (i % S < S - 1 ? 0 : -1)),
  };
  return ctx.warmPipelines(() => {
    const grads = createGrads(ctx, adapter);
    const total = trainStep(
      ctx,
      model,
      adapter,
      batch,
      { task: 0, dropoutSeed: 0, params: adapter.params },
      grads,
      opts,
    );
    [total, ...grads].forEach((t) => t.release());
  });
}

/**
 * The forward pass and loss only: {Σ loss, scored tokens} [2] and each token's loss losses [B·S] (0 where not
 * scored; a sequence's loss is the sum of its row). The caller releases both. `head` chunks as in trainStep.
 */
export function evalLosses(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  batch: TrainBatch,
  run: AdapterRun,
  head?: HeadLossOptions,
): { total: Tensor<'f32'>; losses: Tensor<'f32'> } {
  const step = prepare(ctx, model, adapter, batch, run);
  const { T } = step;
  const { weights: w, config: cfg } = model;
  const { x } = forwardBlocks(step, 'none');
  const n = rmsnorm(ctx, x, w.outNorm, { T, D: cfg.dim, eps: cfg.normEps });
  const out = headLosses(ctx, w.head, n.y, step.targets, { T, D: cfg.dim, V: cfg.vocabSize }, head);
  [n.y, n.rrms, x].forEach((t) => t.release());
  step.release();
  return out;
}

/** evalLosses' {Σ loss, scored tokens} [2] alone. */
export function evalLoss(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  batch: TrainBatch,
  run: AdapterRun,
  head?: HeadLossOptions,
): Tensor<'f32'> {
  const { total, losses } = evalLosses(ctx, model, adapter, batch, run, head);
  losses.release();
  return total;
}

interface PreparedStep {
  env: StepEnv;
  T: number;
  ids: Tensor<'u32'>;
  targets: Tensor<'i32'>;
  release(): void;
}

/** Checks the batch on the host and uploads it with the positions RoPE needs. */
function prepare(
  ctx: GpuContext,
  model: TrainModel,
  adapter: Adapter,
  batch: TrainBatch,
  run: AdapterRun,
): PreparedStep {
  checkBatch(batch, model.config.vocabSize);
  checkRunList(adapter, run.params, run.groups?.paramStrides, run, 'run parameter');
  if (run.groups && (batch.B % run.groups.seeds.length !== 0 || run.groups.seq !== batch.S)) {
    throw new Error(
      `trainStep: ${batch.B} sequences of ${batch.S} tokens do not make ${run.groups.seeds.length} groups of sequence length ${run.groups.seq}`,
    );
  }
  const { B, S } = batch;
  const T = B * S;
  const cfg = model.config;
  const ids = ctx.upload(batch.tokens, [T], 'u32');
  const targets = ctx.upload(batch.targets, [T], 'i32');
  const pos = ctx.upload(
    Uint32Array.from({ length: T }, (_, i) => i % S),
    [T],
    'u32',
  );
  const lengths = ctx.upload(batch.lengths, [B], 'u32');
  const env: StepEnv = {
    ctx,
    weights: model.weights,
    cfg,
    adapter,
    run,
    T,
    pos,
    lengths,
    attn: { B, S, H: cfg.nHeads, KV: cfg.nKvHeads, hd: cfg.headDim },
  };
  return { env, T, ids, targets, release: () => [ids, targets, pos, lengths].forEach((t) => t.release()) };
}

/**
 * Embedding and blocks. Returns the last block's output and, per `keep`, each block's input ('inputs', for
 * recomputation) or its input and activations ('all'); 'none' keeps nothing (evaluation).
 */
function forwardBlocks(
  step: PreparedStep,
  keep: 'all' | 'inputs' | 'none',
): { x: Tensor<'f32'>; inputs: Tensor<'f32'>[]; acts: BlockActivations[] } {
  const { env } = step;
  const inputs: Tensor<'f32'>[] = [];
  const acts: BlockActivations[] = [];
  let x = embedding(env.ctx, env.weights.embed, step.ids, step.T);
  for (let l = 0; l < env.cfg.nLayers; l++) {
    const f = blockForward(env, l, x);
    if (keep === 'all') acts.push(f.acts);
    else releaseActivations(f.acts);
    if (keep === 'none') x.release();
    else inputs.push(x);
    x = f.out;
  }
  return { x, inputs, acts };
}

function checkBatch(b: TrainBatch, vocab: number): void {
  const { B, S } = b;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(S) || S < 1)
    throw new Error(`batch: B = ${B}, S = ${S} must be positive integers`);
  const T = B * S;
  if (b.tokens.length !== T) throw new Error(`batch: ${b.tokens.length} tokens, expected B·S = ${T}`);
  if (b.targets.length !== T) throw new Error(`batch: ${b.targets.length} targets, expected B·S = ${T}`);
  if (b.lengths.length !== B) throw new Error(`batch: ${b.lengths.length} lengths, expected B = ${B}`);
  for (let s = 0; s < B; s++) {
    const len = b.lengths[s];
    if (len < 1 || len > S) throw new Error(`batch: sequence ${s} has length ${len}, outside 1..${S}`);
    for (let i = 0; i < S; i++) {
      const at = s * S + i;
      if (i < len && b.tokens[at] >= vocab)
        throw new Error(`batch: token ${b.tokens[at]} at ${at} is outside the vocabulary (${vocab})`);
      const t = b.targets[at];
      if (t < -1 || t >= vocab) throw new Error(`batch: target ${t} at ${at} is neither −1 nor a token id < ${vocab}`);
      if (t >= 0 && i >= len) throw new Error(`batch: target at ${at} scores a padding position of sequence ${s}`);
    }
  }
}
