// One pre-norm LLaMA block for training, forward and backward side by side (as llm.c pairs them): the forward
// is the model's block (src/model/block.ts) with the adapter's sites on every projection, keeping what the
// backward needs. The backward goes into the adapter's parameter gradients only (base weights and norms are frozen)
// and turns the residual-stream gradient of the block's output into that of its input.
// Policy: parameter gradients accumulate (+=) into `grads`; activation gradients are written (=).

import type { Adapter, AdapterRun, TargetModule } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import type { LlamaConfig } from '../model/config';
import type { ModelWeights } from '../model/weights';
import { type BlockTensors, llamaBlockKeeping } from '../model/block';
import { type AttentionDims, attention, attentionBackward } from '../ops/attention';
import { linearBackwardInput } from '../ops/linear';
import { rmsnormBackward } from '../ops/rmsnorm';
import { ropeBackward } from '../ops/rope';
import type { SplitKReduce } from '../ops/splitK';
import { swigluBackward } from '../ops/swiglu';
import type { Weight } from '../ops/weight';

/** What every block of one step shares: the model, the adapter and its run, the batch's layout tensors. */
export interface StepEnv {
  ctx: GpuContext;
  weights: ModelWeights;
  cfg: LlamaConfig;
  adapter: Adapter;
  run: AdapterRun;
  /** Tokens of the whole batch (B·S, sequences padded to S). */
  T: number;
  /** [T] each token's position within its sequence (RoPE). */
  pos: Tensor<'u32'>;
  /** [B] tokens per sequence; later positions are padding. */
  lengths: Tensor<'u32'>;
  attn: AttentionDims;
}

/** A block's saved activations (the block's input x is kept by the caller): the block's tensors, lse, sites. */
export interface BlockActivations extends BlockTensors {
  lse: Tensor<'f32'>;
  /** Each adapted projection's saved tensors (released by its site's backward). */
  sites: Partial<Record<TargetModule, Tensor<'f32'>[]>>;
}

/** The block's own saved tensors (the sites' are released by their backward). */
function blockTensors(a: BlockActivations): Tensor<'f32'>[] {
  return [a.n1.y, a.n1.rrms, a.q, a.k, a.v, a.o, a.lse, a.xMid, a.n2.y, a.n2.rrms, a.g, a.u, a.h];
}

/** Releases everything a block's forward saved, when no backward will consume it. */
export function releaseActivations(a: BlockActivations): void {
  blockTensors(a).forEach((t) => t.release());
  Object.values(a.sites).forEach((saved) => saved?.forEach((t) => t.release()));
}

function ropeOptions(env: StepEnv) {
  const { cfg } = env;
  return {
    T: env.T,
    nHeads: cfg.nHeads,
    nKvHeads: cfg.nKvHeads,
    headDim: cfg.headDim,
    theta: cfg.ropeTheta,
    pairing: cfg.ropePairing,
    freqFactors: env.weights.ropeFactors,
  };
}

/**
 * Records block `l` on input x [T, dim] (left intact) and returns its output as a new tensor, with the
 * activations the backward needs: the model's own block (src/model/block.ts) with the adapter's sites as its
 * hook and attention keeping its row log-sum-exp.
 */
export function blockForward(
  env: StepEnv,
  l: number,
  x: Tensor<'f32'>,
): { out: Tensor<'f32'>; acts: BlockActivations } {
  const { ctx, T } = env;
  const sites: BlockActivations['sites'] = {};
  let lse: Tensor<'f32'> | undefined;
  const attend = (q: Tensor<'f32'>, k: Tensor<'f32'>, v: Tensor<'f32'>) => {
    const r = attention(ctx, q, k, v, env.lengths, env.attn);
    lse = r.lse;
    return r.o;
  };
  const adapt = (target: TargetModule, input: Tensor<'f32'>) => {
    const branch = env.adapter.site(l, target)?.forward(ctx, input, T, env.run) ?? null;
    if (branch) sites[target] = branch.saved;
    return branch;
  };
  const { weights: w, cfg, pos } = env;
  const { out, kept } = llamaBlockKeeping({ ctx, w, layer: w.layers[l], cfg, x, pos, T, attend, adapt });
  return { out, acts: { ...kept, lse: lse!, sites } };
}

/**
 * Records the backward of block `l`: on entry dx [T, dim] holds ∂L/∂(block output), on exit ∂L/∂(block
 * input) (updated in place: the residual passes it through, each branch adds to it). Adapter gradients are
 * added into `grads`; their split-K reduces are queued on `reduce` and flushed at the end (one dispatch for
 * the block's dA/dB). x is the block's input; the activations are released.
 */
export function blockBackward(
  env: StepEnv,
  l: number,
  x: Tensor<'f32'>,
  a: BlockActivations,
  dx: Tensor<'f32'>,
  grads: Tensor<'f32'>[],
  reduce: SplitKReduce,
): void {
  const { ctx, cfg, T } = env;
  const layer = env.weights.layers[l];
  const norm = { T, D: cfg.dim };
  // ∂L/∂input of y = W·input + branch(input): the site accumulates its parameter gradients and hands back its
  // part of dx, which the frozen Wᵀ·dy's kernel adds. `into` sums projections that share an input (q, k, v;
  // gate, up).
  const projectBack = (
    target: TargetModule,
    input: Tensor<'f32'>,
    w: Weight,
    dy: Tensor<'f32'>,
    into?: Tensor<'f32'>,
  ) => {
    const site = env.adapter.site(l, target);
    const branch = site?.backward(ctx, input, a.sites[target]!, dy, T, env.run, grads, reduce);
    const din = linearBackwardInput(ctx, dy, w, T, { accumulate: !!into, lowRank: branch?.lowRank }, into);
    branch?.finish(din);
    return din;
  };

  // MLP half: out = xMid + down(silu(gate(n2)) ⊙ up(n2)), n2 = RMSNorm(xMid).
  const dh = projectBack('down', a.h, layer.down, dx);
  const { dg, du } = swigluBackward(ctx, dh, a.g, a.u);
  dh.release();
  const dn2 = projectBack('gate', a.n2.y, layer.gate, dg);
  projectBack('up', a.n2.y, layer.up, du, dn2);
  rmsnormBackward(ctx, dn2, a.xMid, layer.ffnNorm, a.n2.rrms, norm, { accumulate: true }, dx);
  [dg, du, dn2].forEach((t) => t.release());

  // Attention half: xMid = x + o_proj(Attn(RoPE(q), RoPE(k), v)), projections of n1 = RMSNorm(x). Biases are
  // frozen and RoPE is linear, so the projections' output gradients are the rotated-back dq, dk.
  const dO = projectBack('o', a.o, layer.wo, dx);
  const { dq, dk, dv } = attentionBackward(ctx, a.q, a.k, a.v, a.o, a.lse, dO, env.lengths, env.attn);
  dO.release();
  ropeBackward(ctx, dq, dk, env.pos, ropeOptions(env));
  const dn1 = projectBack('q', a.n1.y, layer.wq, dq);
  projectBack('k', a.n1.y, layer.wk, dk, dn1);
  projectBack('v', a.n1.y, layer.wv, dv, dn1);
  rmsnormBackward(ctx, dn1, x, layer.attnNorm, a.n1.rrms, norm, { accumulate: true }, dx);
  reduce.flush();
  [dq, dk, dv, dn1, ...blockTensors(a)].forEach((t) => t.release());
}

/** Every block's forward keeping nothing (inference): returns the last block's output; `x` is released. */
export function forwardInference(env: StepEnv, x: Tensor<'f32'>): Tensor<'f32'> {
  for (let l = 0; l < env.cfg.nLayers; l++) {
    const f = blockForward(env, l, x);
    releaseActivations(f.acts);
    x.release();
    x = f.out;
  }
  return x;
}
