// Every export starts from plain LoRA: per adapted (layer, target), A [r, in] and B [out, r] with the update
// (α/r)·B·A. A LoRA adapter is that already; MTL-LoRA becomes one plain LoRA per task (docs/DESIGN.md §4):
// A′ = Λ_t·A, B′ = Σ_i softmax(w_t/τ)_i·B^i, computed in float64 and rounded once to f32, so that
// s·B′·A′·x equals the task's MTL-LoRA branch s·Σ_i π_i B^i·Λ_t·A·x. Each tensor is checked against the
// base model's shapes, so an adapter trained for another model is refused here, by name.

import { adaptedSites } from '../adapters/lora';
import { ALL_TARGETS, type TargetModule, modulePath, targetDims } from '../adapters/types';
import type { LlamaConfig } from '../model/config';
import { type AdapterData, AdapterDataError, alignToBase } from './adapterData';

export interface LoraSite {
  layer: number;
  target: TargetModule;
  in: number;
  out: number;
  /** [r, in] row-major. */
  A: Float32Array;
  /** [out, r] row-major. */
  B: Float32Array;
}

export interface PlainLora {
  /** The MTL-LoRA task this LoRA is, or null for a LoRA adapter. */
  task: string | null;
  rank: number;
  alpha: number;
  targets: TargetModule[];
  /** In src/adapters' order: layer by layer, targets in ALL_TARGETS order. */
  sites: LoraSite[];
  /** MTL-LoRA: the task's mixing weights softmax(w_t/τ) per site, for the manifest. */
  mixing?: number[][];
}

function tensor(data: AdapterData, name: string, shape: number[]): Float32Array {
  const t = data.tensors.get(name);
  if (!t) throw new AdapterDataError(`adapter_model.safetensors lacks ${name} (an adapter for another model?)`);
  if (t.shape.join() !== shape.join()) {
    throw new AdapterDataError(
      `${name} has shape [${t.shape}], but this base model needs [${shape}] (an adapter for another model?)`,
    );
  }
  return t.data;
}

/** The adapter's plain LoRA(s): one for LoRA; one per task (or only `task`) for MTL-LoRA. */
export function plainLoras(given: AdapterData, cfg: LlamaConfig, task?: string): PlainLora[] {
  const data = alignToBase(given, cfg);
  const s = data.config.metalora.settings;
  const targets = ALL_TARGETS.filter((t) => s.targets.includes(t));
  const sites = adaptedSites(cfg, { rank: s.rank, alpha: s.loraAlpha, dropout: 0, targets });
  const r = s.rank;
  const perSite = data.config.peft_type === 'LORA' ? 2 : 2 + 2 * data.config.metalora.tasks.length;
  if (data.tensors.size !== sites.length * perSite) {
    throw new AdapterDataError(
      `adapter_model.safetensors holds ${data.tensors.size} tensors; ${sites.length} adapted modules of ` +
        `this base model need ${sites.length * perSite} (an adapter for another model?)`,
    );
  }
  if (data.config.peft_type === 'LORA') {
    if (task !== undefined)
      throw new AdapterDataError('--task applies to MTL-LoRA adapters; this is a plain LoRA adapter');
    return [
      {
        task: null,
        rank: r,
        alpha: s.loraAlpha,
        targets,
        sites: sites.map(({ layer, target }) => {
          const d = targetDims(cfg, target);
          const path = modulePath(layer, target);
          return {
            layer,
            target,
            ...d,
            A: tensor(data, `${path}.lora_A.weight`, [r, d.in]),
            B: tensor(data, `${path}.lora_B.weight`, [d.out, r]),
          };
        }),
      },
    ];
  }
  const tasks = data.config.metalora.tasks;
  const chosen = task === undefined ? tasks : [task];
  return chosen.map((name) => {
    const t = tasks.indexOf(name);
    if (t < 0) throw new AdapterDataError(`task ${name}: this MTL-LoRA adapter was trained on ${tasks.join(', ')}`);
    const mixing: number[][] = [];
    const out = sites.map(({ layer, target }) => {
      const d = targetDims(cfg, target);
      const path = modulePath(layer, target);
      const n = s.mtlUpProjections;
      const A = tensor(data, `${path}.mtl_lora_A.weight`, [r, d.in]);
      const Bs = tensor(data, `${path}.mtl_lora_B.weight`, [n, d.out, r]);
      const lambda = tensor(data, `${path}.mtl_lora_Lambda.${t}.weight`, [r, r]);
      const pi = softmax(tensor(data, `${path}.mtl_lora_w.${t}`, [n]), s.mtlTau);
      mixing.push(Array.from(pi));
      return { layer, target, ...d, A: lambdaTimesA(lambda, A, r, d.in), B: mixUps(pi, Bs, d.out * r) };
    });
    return { task: name, rank: r, alpha: s.loraAlpha, targets, sites: out, mixing };
  });
}

/** softmax(w/τ) in float64 (max subtracted first, as the GPU kernel does). */
function softmax(w: Float32Array, tau: number): Float64Array {
  const max = Math.max(...w) / tau;
  const e = Float64Array.from(w, (v) => Math.exp(v / tau - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
}

/** Λ·A [r, in] in float64, rounded to f32. */
function lambdaTimesA(lambda: Float32Array, A: Float32Array, r: number, inDim: number): Float32Array {
  const out = new Float32Array(r * inDim);
  const row = new Float64Array(inDim);
  for (let k = 0; k < r; k++) {
    row.fill(0);
    for (let m = 0; m < r; m++) {
      const l = lambda[k * r + m];
      if (l !== 0) for (let j = 0; j < inDim; j++) row[j] += l * A[m * inDim + j];
    }
    out.set(row, k * inDim);
  }
  return out;
}

/** Σ_i π_i·B^i over the stacked [n, out, r] tensor, in float64, rounded to f32. */
function mixUps(pi: Float64Array, Bs: Float32Array, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let e = 0; e < size; e++) {
    let v = 0;
    for (let i = 0; i < pi.length; i++) v += pi[i] * Bs[i * size + e];
    out[e] = v;
  }
  return out;
}
