// Float64 reference for a training step's forward and loss: the LLaMA model (as src/reference/llama.ts) on a
// padded batch, with a LoRA or MTL-LoRA branch on the adapted projections, and the mean cross-entropy over
// scored tokens (docs/DESIGN.md §4). This is the specification the GPU training step's loss and, through finite
// differences, its gradients are tested against. Adapter tensors are looked up by name, spelled here
// independently of src/adapters, so a misnamed or misplaced GPU tensor fails the comparison.

import { siteDropoutSeed } from '../adapters/init';
import type { LoraSettings, MtlLoraSettings, TargetModule } from '../adapters/types';
import type { LlamaConfig } from '../model/config';
import { attentionRef } from './attention';
import { biasAddRef } from './biasAdd';
import { crossEntropyRef } from './crossEntropy';
import { embeddingRef } from './embedding';
import { type HostWeight, linearRef } from './linear';
import type { LlamaRefWeights } from './llama';
import { loraForwardRef } from './lora';
import { mtlLoraForwardRef } from './mtlLora';
import { rmsnormRef } from './rmsnorm';
import { ropeRef } from './rope';
import { swigluRef } from './swiglu';

/** B sequences padded to S: tokens and targets [B·S] (targets −1 unscored), lengths [B]. */
export interface RefBatch {
  B: number;
  S: number;
  tokens: ArrayLike<number>;
  targets: ArrayLike<number>;
  lengths: ArrayLike<number>;
}

/** The adapter as the reference sees it: its tensors by name, its settings, the step's dropout seed. */
export type RefAdapter =
  | { kind: 'lora'; settings: LoraSettings; params: Map<string, ArrayLike<number>>; dropoutSeed: number }
  | {
      kind: 'mtl-lora';
      settings: MtlLoraSettings;
      params: Map<string, ArrayLike<number>>;
      dropoutSeed: number;
      task: number;
    };

const MODULES: Record<TargetModule, string> = {
  q: 'self_attn.q_proj',
  k: 'self_attn.k_proj',
  v: 'self_attn.v_proj',
  o: 'self_attn.o_proj',
  gate: 'mlp.gate_proj',
  up: 'mlp.up_proj',
  down: 'mlp.down_proj',
};

/** y [T, out] plus the adapter's branch on x [T, in] at (layer, target), or y itself when not adapted. */
function withAdapter(
  a: RefAdapter,
  layer: number,
  target: TargetModule,
  x: ArrayLike<number>,
  y: Float64Array,
  T: number,
  inDim: number,
  outDim: number,
): Float64Array {
  const s = a.settings;
  if (!s.targets.includes(target)) return y;
  const path = `base_model.model.model.layers.${layer}.${MODULES[target]}`;
  const get = (name: string) => {
    const t = a.params.get(`${path}.${name}`);
    if (!t) throw new Error(`reference: adapter tensor ${path}.${name} is missing`);
    return t;
  };
  const o = { scale: s.alpha / s.rank, dropout: s.dropout, seed: siteDropoutSeed(a.dropoutSeed, layer, target) };
  const d = { T, in: inDim, out: outDim, r: s.rank };
  if (a.kind === 'lora') return loraForwardRef(x, get('lora_A.weight'), get('lora_B.weight'), d, o, y).y;
  return mtlLoraForwardRef(
    x,
    get('mtl_lora_A.weight'),
    get(`mtl_lora_Lambda.${a.task}.weight`),
    get('mtl_lora_B.weight'),
    get(`mtl_lora_w.${a.task}`),
    { ...d, n: a.settings.nUp },
    { ...o, tau: a.settings.tau },
    y,
  ).y;
}

export interface AdapterLossRef {
  /** Mean loss over scored tokens (0 when none). */
  loss: number;
  sum: number;
  count: number;
  /** [B·S] per-token loss, 0 where unscored. */
  losses: Float64Array;
}

/** Forward pass of the batch with the adapter and the masked mean cross-entropy, in float64. */
export function llamaAdapterLossRef(
  w: LlamaRefWeights,
  cfg: LlamaConfig,
  batch: RefBatch,
  a: RefAdapter,
): AdapterLossRef {
  const { B, S } = batch;
  const T = B * S;
  const { dim: D, nHeads, nKvHeads, headDim, normEps: eps, vocabSize: V } = cfg;
  const pos = Array.from({ length: T }, (_, i) => i % S);
  const rope = { T, headDim, theta: cfg.ropeTheta, pairing: cfg.ropePairing, freqFactors: w.ropeFactors };
  const bias = (y: Float64Array, b: ArrayLike<number> | undefined) => (b ? biasAddRef(y, b, T) : y);
  const add = (x: Float64Array, y: Float64Array) => x.map((v, i) => v + y[i]);
  let x = embeddingRef(w.embed, batch.tokens, T);
  w.layers.forEach((l, layer) => {
    const proj = (target: TargetModule, input: Float64Array, m: HostWeight) =>
      withAdapter(a, layer, target, input, linearRef(input, m, T), T, m.cols, m.rows);
    const n1 = rmsnormRef(x, l.attnNorm, { T, D, eps }).y;
    const q = ropeRef(bias(proj('q', n1, l.wq), l.bq), pos, { ...rope, nHeads });
    const k = ropeRef(bias(proj('k', n1, l.wk), l.bk), pos, { ...rope, nHeads: nKvHeads });
    const v = bias(proj('v', n1, l.wv), l.bv);
    const { o } = attentionRef(q, k, v, batch.lengths, { B, S, H: nHeads, KV: nKvHeads, hd: headDim });
    x = add(x, proj('o', o, l.wo));
    const n2 = rmsnormRef(x, l.ffnNorm, { T, D, eps }).y;
    x = add(x, proj('down', swigluRef(proj('gate', n2, l.gate), proj('up', n2, l.up)), l.down));
  });
  const logits = linearRef(rmsnormRef(x, w.outNorm, { T, D, eps }).y, w.head, T);
  const {
    losses,
    total: [sum, count],
  } = crossEntropyRef(logits, batch.targets, { T, V, gradScale: 1 });
  return { loss: count ? sum / count : 0, sum, count, losses };
}
