// Optimizer steps over lists of f32 parameter tensors: plain SGD (MeTA-LoRA's inner steps), AdamW with
// PyTorch's semantics (the outer step), and global gradient-norm clipping that stays on the GPU.
// Clipping writes {norm, factor} into a small GPU buffer that both steps read, so an iteration needs no
// readback; the host reads the norm only when it logs.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { coalesce } from '../gpu/tensorPack';
import { grid1d } from './grid';
import { type TensorList, checkPaired, dispatchElementwise } from './paramOps';
import adamwSrc from '../../shaders/adamw.wgsl?raw';
import normFinishSrc from '../../shaders/grad_norm_finish.wgsl?raw';
import normPartialSrc from '../../shaders/grad_norm_partial.wgsl?raw';
import sgdSrc from '../../shaders/sgd.wgsl?raw';
import { uniformStruct } from '../gpu/uniforms';

const SGD_PARAMS = uniformStruct(sgdSrc, 'Params');
const ADAMW_PARAMS = uniformStruct(adamwSrc, 'Params');
const NORM_PARTIAL_PARAMS = uniformStruct(normPartialSrc, 'Params');
const NORM_FINISH_PARAMS = uniformStruct(normFinishSrc, 'Params');

/**
 * Invocations per workgroup of both grad-norm passes (a power of two: they reduce by a tree) and elements
 * each partial-pass invocation sums first. Long sequential runs and a short tree suit SwiftShader, where
 * barriers are costly: 64×64 ran 4× faster there than 256×16, and is a fine shape for real GPUs too.
 */
export const NORM_WG = 64;
export const NORM_PER_THREAD = 64;
/** Elements behind one partial sum. */
const NORM_CHUNK = NORM_WG * NORM_PER_THREAD;

/** {norm, factor} with factor 1 per context, bound when a step is not clipped (the kernels always scale). */
const unitClip = new WeakMap<GpuContext, Tensor<'f32'>>();

function clipOrUnit(ctx: GpuContext, clip: Tensor<'f32'> | undefined): Tensor<'f32'> {
  if (clip) {
    if (clip.numel < 2) throw new Error(`clip buffer has ${clip.numel} elements, expected {norm, factor}`);
    return clip;
  }
  let unit = unitClip.get(ctx);
  if (!unit) {
    unit = ctx.upload(Float32Array.of(0, 1), [2]);
    unitClip.set(ctx, unit);
  }
  return unit;
}

// Lists of pack views (src/gpu/tensorPack.ts) are coalesced into spans: one dispatch per span, not per tensor.

/** θ ← θ − lr·(c·g) per tensor, with c the clip factor in clip[1] (from gradNorm) or 1. No state. */
export function sgdStep(
  ctx: GpuContext,
  params: TensorList,
  grads: TensorList,
  lr: number,
  clip?: Tensor<'f32'>,
): void {
  checkPaired('sgdStep', params, grads, 'gradient');
  const c = clipOrUnit(ctx, clip);
  const [P, G] = coalesce([params, grads]);
  P.forEach((p, i) => {
    dispatchElementwise(ctx, sgdSrc, [p, G[i], c, ctx.uniform(SGD_PARAMS.pack({ n: p.numel, lr }))], p.numel);
  });
}

export interface AdamWOptions {
  lr: number;
  /** 1-based index of this step (PyTorch's state['step'] after its increment); sets the bias corrections. */
  step: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.AdamW's defaults. */
export const ADAMW_DEFAULTS = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 } as const;

/**
 * One AdamW step per tensor, in place on params, m (first moment) and v (second moment), PyTorch's
 * semantics: decoupled decay θ·(1 − lr·wd) first, then θ −= (lr/bc1)·m / (sqrt(v)/sqrt(bc2) + eps) with
 * bc = 1 − β^step. Gradients are scaled by the clip factor in clip[1] when a clip buffer is given.
 * m and v start as zeros (fill) before step 1.
 */
export function adamwStep(
  ctx: GpuContext,
  params: TensorList,
  grads: TensorList,
  m: TensorList,
  v: TensorList,
  opts: AdamWOptions,
  clip?: Tensor<'f32'>,
): void {
  checkPaired('adamwStep', params, grads, 'gradient');
  checkPaired('adamwStep', params, m, 'first moment');
  checkPaired('adamwStep', params, v, 'second moment');
  const { lr, step } = opts;
  const beta1 = opts.beta1 ?? ADAMW_DEFAULTS.beta1;
  const beta2 = opts.beta2 ?? ADAMW_DEFAULTS.beta2;
  const eps = opts.eps ?? ADAMW_DEFAULTS.eps;
  const weightDecay = opts.weightDecay ?? ADAMW_DEFAULTS.weightDecay;
  if (!Number.isInteger(step) || step < 1) throw new Error(`adamwStep: step must be a positive integer, got ${step}`);
  // Float64 on the host, rounded once to f32 by the uniform: the kernel sees the same constants PyTorch's
  // f32 tensors would be combined with.
  const bc1 = 1 - beta1 ** step;
  const bc2 = 1 - beta2 ** step;
  const c = clipOrUnit(ctx, clip);
  const [P, G, M, V] = coalesce([params, grads, m, v]);
  P.forEach((p, i) => {
    const uniform = ctx.uniform(
      ADAMW_PARAMS.pack({
        ...{ n: p.numel, beta1, beta2, one_minus_beta1: 1 - beta1, one_minus_beta2: 1 - beta2 },
        ...{ decay: 1 - lr * weightDecay, step_size: lr / bc1, bc2_sqrt: Math.sqrt(bc2), eps },
      }),
    );
    dispatchElementwise(ctx, adamwSrc, [p, G[i], M[i], V[i], c, uniform], p.numel);
  });
}

/**
 * Global L2 norm of all gradients and PyTorch clip_grad_norm_'s factor min(1, maxNorm/(norm + 1e-6)),
 * written as {norm, factor} into `out` (a new [2] tensor when omitted) without reading anything back.
 * maxNorm = Infinity only measures. Deterministic: a fixed two-level reduction, no atomics.
 */
export function gradNorm(ctx: GpuContext, grads: TensorList, maxNorm: number, out?: Tensor<'f32'>): Tensor<'f32'> {
  const result = out ?? ctx.tensor([2], 'f32', 'grad norm');
  if (result.numel < 2) throw new Error(`gradNorm: out has ${result.numel} elements, expected 2`);
  const spans = coalesce([grads])[0];
  const chunks = spans.map((g) => Math.ceil(g.numel / NORM_CHUNK));
  const count = chunks.reduce((a, b) => a + b, 0);
  const partials = ctx.tensor([count], 'f32', 'grad norm partials');
  const partial = ctx.pipeline(normPartialSrc, { WG: NORM_WG, PER_THREAD: NORM_PER_THREAD });
  let offset = 0;
  spans.forEach((g, i) => {
    ctx.dispatch(
      partial,
      [g, partials, ctx.uniform(NORM_PARTIAL_PARAMS.pack({ n: g.numel, offset }))],
      grid1d(ctx, chunks[i] * NORM_WG, NORM_WG),
    );
    offset += chunks[i];
  });
  const finish = ctx.pipeline(normFinishSrc, { WG: NORM_WG });
  ctx.dispatch(finish, [partials, result, ctx.uniform(NORM_FINISH_PARAMS.pack({ count, max_norm: maxNorm }))], [1]);
  // Safe while the dispatches above are pending: the pool only hands it to later-recorded commands.
  partials.release();
  return result;
}
