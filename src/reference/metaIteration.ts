// Float64 reference of one MeTA-LoRA iteration (and of its −STA ablation) on given episodes, written plainly
// from docs/DESIGN.md §4: per task θ_i = θ, `innerSteps` SGD steps on the support loss, the query gradient at θ_i,
// their mean, global-norm clipping and one AdamW step. Gradients are central finite differences of the
// float64 training loss (src/reference/llamaAdapter.ts) over every adapter coordinate, so this is meant for
// tiny models only (cost: 2 loss evaluations per coordinate per gradient). It is the specification the GPU
// trainer (src/train/trainers/metaLora.ts) is tested against on the same sampled data.

import type { LoraSettings } from '../adapters/types';
import type { LlamaConfig } from '../model/config';
import { type RefBatch, llamaAdapterLossRef } from './llamaAdapter';
import type { LlamaRefWeights } from './llama';
import { type AdamWRefOptions, adamwStepRef, gradNormRef } from './optimizer';

/** A plain-LoRA adapter's tensors in its parameter order. */
export interface RefLoraParams {
  settings: LoraSettings;
  names: string[];
  values: Float64Array[];
}

export interface MetaIterationRefOptions {
  /** false: the ablation (the query gradient at θ itself). */
  sta: boolean;
  innerSteps: number;
  innerLr: number;
  /** Dropout seeds in the trainer's draw order: per task, one per inner step, then one for the query pass. */
  seeds: readonly number[];
  /** AdamW's settings for this step (lr, 1-based step, betas, eps, weight decay). */
  adamw: AdamWRefOptions;
  /** Clip threshold of the global gradient norm (Infinity: measure only). */
  gradClip: number;
  /** AdamW's moments before the step. */
  m: readonly ArrayLike<number>[];
  v: readonly ArrayLike<number>[];
  /** Finite-difference step. */
  h: number;
}

export interface MetaIterationRef {
  /** Per task: support loss at θ before any inner step (null for the ablation) and query loss at θ_i. */
  support: (number | null)[];
  query: number[];
  /** mean_i g_i, the outer gradient. */
  grad: Float64Array[];
  /** {norm, clip factor}. */
  clip: Float64Array;
  params: Float64Array[];
  m: Float64Array[];
  v: Float64Array[];
}

/** The mean loss of `batch` at `values`, and its gradient by central differences over every coordinate. */
function lossAndGrad(
  w: LlamaRefWeights,
  cfg: LlamaConfig,
  p: RefLoraParams,
  values: Float64Array[],
  batch: RefBatch,
  seed: number,
  h: number,
): { loss: number; grad: Float64Array[] } {
  const lossAt = (vals: Float64Array[]) =>
    llamaAdapterLossRef(w, cfg, batch, {
      kind: 'lora',
      settings: p.settings,
      params: new Map(p.names.map((n, i) => [n, vals[i]])),
      dropoutSeed: seed,
    }).loss;
  const work = values.map((v) => Float64Array.from(v));
  const grad = work.map((t) => {
    const g = new Float64Array(t.length);
    for (let i = 0; i < t.length; i++) {
      const x = t[i];
      t[i] = x + h;
      const up = lossAt(work);
      t[i] = x - h;
      const down = lossAt(work);
      t[i] = x;
      g[i] = (up - down) / (2 * h);
    }
    return g;
  });
  return { loss: lossAt(values), grad };
}

export function metaIterationRef(
  w: LlamaRefWeights,
  cfg: LlamaConfig,
  p: RefLoraParams,
  episodes: readonly { support: RefBatch; query: RefBatch }[],
  o: MetaIterationRefOptions,
): MetaIterationRef {
  const seeds = [...o.seeds];
  const nextSeed = () => {
    const s = seeds.shift();
    if (s === undefined) throw new Error('metaIterationRef: ran out of dropout seeds');
    return s;
  };
  const support: (number | null)[] = [];
  const query: number[] = [];
  const sum = p.values.map((t) => new Float64Array(t.length));
  for (const ep of episodes) {
    let local = p.values.map((t) => Float64Array.from(t));
    let first: number | null = null;
    if (o.sta) {
      for (let s = 0; s < o.innerSteps; s++) {
        const { loss, grad } = lossAndGrad(w, cfg, p, local, ep.support, nextSeed(), o.h);
        if (s === 0) first = loss;
        local = local.map((t, i) => t.map((x, j) => x - o.innerLr * grad[i][j]));
      }
    }
    support.push(first);
    const { loss, grad } = lossAndGrad(w, cfg, p, local, ep.query, nextSeed(), o.h);
    query.push(loss);
    grad.forEach((g, i) =>
      g.forEach((x, j) => {
        sum[i][j] += x;
      }),
    );
  }
  const grad = sum.map((t) => t.map((x) => x / episodes.length));
  const clip = gradNormRef(grad, o.gradClip);
  const next = adamwStepRef(p.values, grad, o.m, o.v, o.adamw, clip);
  return { support, query, grad, clip, ...next };
}
