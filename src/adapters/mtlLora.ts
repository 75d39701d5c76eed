// MTL-LoRA as an Adapter (docs/DESIGN.md §4): for task t, y += (α/r)·Σ_i softmax(w_t/τ)_i B^i·Λ_t·A·drop(x).
// Parameters per adapted (layer, target), in this order, under the module's PEFT path P
// (base_model.model.model.layers.{l}.self_attn.q_proj, …):
//   P.mtl_lora_A.weight       [r, in]       shared down-projection, Kaiming-uniform U(±1/√in) as LoRA's A
//   P.mtl_lora_B.weight       [n, out, r]   the n up-projections B^i stacked, zero
//   P.mtl_lora_Lambda.{t}.weight [r, r]     one per task t, identity (each task starts as plain LoRA)
//   P.mtl_lora_w.{t}          [n]           one per task t, mixing logits: U(±1/√n) ('kaiming', as the
//                                           official code's kaiming_uniform_ on [tasks, n]) or 0 ('uniform')
// A step touches only its task's Λ_t and w_t (run.task); the other tasks' gradients stay as they were.

import type { GpuContext } from '../gpu/context';
import { TensorPack } from '../gpu/tensorPack';
import type { LlamaConfig } from '../model/config';
import { mtlLoraBackward, mtlLoraForward } from '../ops/mtlLora';
import { identity, kaimingUniform, siteDropoutSeed } from './init';
import { adaptedSites, checkLoraSettings } from './lora';
import {
  type Adapter,
  type AdapterRun,
  type AdapterSite,
  type MtlLoraSettings,
  type TargetModule,
  modulePath,
  targetDims,
} from './types';

/** Where one site's tensors sit in the parameter list. */
interface SiteSlots {
  A: number;
  Bs: number;
  /** Λ_t at lambda + t, w_t at w + t. */
  lambda: number;
  w: number;
}

export function checkMtlLoraSettings(s: MtlLoraSettings): void {
  checkLoraSettings(s);
  if (!Number.isInteger(s.nUp) || s.nUp < 1)
    throw new Error(`MTL-LoRA needs a positive number of up-projections, got ${s.nUp}`);
  if (!Number.isInteger(s.tasks) || s.tasks < 1)
    throw new Error(`MTL-LoRA needs a positive number of tasks, got ${s.tasks}`);
  if (!(s.tau > 0)) throw new Error(`MTL-LoRA temperature τ must be positive, got ${s.tau}`);
}

/** An MTL-LoRA adapter for `cfg`, initialised from `seed` (see the header for each tensor's init). */
export function createMtlLora(ctx: GpuContext, cfg: LlamaConfig, settings: MtlLoraSettings, seed: number): Adapter {
  checkMtlLoraSettings(settings);
  const { rank: r, nUp: n, tasks } = settings;
  const names: string[] = [];
  const values: Float32Array[] = [];
  const shapes: number[][] = [];
  /** −1 for the shared A and B stacks, t for task t's Λ_t and w_t. */
  const groups: number[] = [];
  const add = (name: string, v: Float32Array, shape: number[], group = -1) => {
    names.push(name);
    values.push(v);
    shapes.push(shape);
    groups.push(group);
    return names.length - 1;
  };
  const sites = new Map<string, AdapterSite>();
  for (const { layer, target } of adaptedSites(cfg, settings)) {
    const dims = targetDims(cfg, target);
    const path = modulePath(layer, target);
    const A = add(
      `${path}.mtl_lora_A.weight`,
      kaimingUniform(r * dims.in, dims.in, seed, `${path}.mtl_lora_A.weight`),
      [r, dims.in],
    );
    const Bs = add(`${path}.mtl_lora_B.weight`, new Float32Array(n * dims.out * r), [n, dims.out, r]);
    const lambda = names.length;
    for (let t = 0; t < tasks; t++) add(`${path}.mtl_lora_Lambda.${t}.weight`, identity(r), [r, r], t);
    const w = names.length;
    for (let t = 0; t < tasks; t++) {
      const name = `${path}.mtl_lora_w.${t}`;
      add(name, settings.wInit === 'kaiming' ? kaimingUniform(n, n, seed, name) : new Float32Array(n), [n], t);
    }
    sites.set(`${layer}.${target}`, mtlSite({ A, Bs, lambda, w }, { ...dims, r, n }, settings, layer, target));
  }
  // Packed shared tensors first, then task by task, each group in name order: AdamW steps the shared group
  // and one task's group per iteration, and each is then one contiguous span (one dispatch).
  const order = groups
    .map((g, i) => ({ g, i }))
    .sort((a, b) => a.g - b.g || a.i - b.i)
    .map(({ i }) => i);
  const params = TensorPack.create(ctx, shapes, { order, values }).tensors;
  return {
    kind: 'mtl-lora',
    settings,
    names,
    params,
    site: (layer, target) => sites.get(`${layer}.${target}`) ?? null,
    release: () => params.forEach((p) => p.release()),
  };
}

function mtlSite(
  slots: SiteSlots,
  shape: { in: number; out: number; r: number; n: number },
  s: MtlLoraSettings,
  layer: number,
  target: TargetModule,
): AdapterSite {
  const scale = s.alpha / s.rank;
  const options = (run: AdapterRun) => {
    // Each MTL-LoRA pass is one task's batch (its Λ_t and w_t); row groups are MeTA-LoRA's, on plain LoRA.
    if (run.groups)
      throw new Error('MTL-LoRA runs one task per pass: row groups (batched episodes) need a plain LoRA adapter');
    if (!Number.isInteger(run.task) || run.task < 0 || run.task >= s.tasks) {
      throw new Error(`MTL-LoRA: task ${run.task} is not one of the adapter's ${s.tasks} tasks`);
    }
    return { scale, tau: s.tau, dropout: s.dropout, seed: siteDropoutSeed(run.dropoutSeed, layer, target) };
  };
  const tensors = (run: AdapterRun) => ({
    A: run.params[slots.A],
    Bs: run.params[slots.Bs],
    lambda: run.params[slots.lambda + run.task],
    w: run.params[slots.w + run.task],
  });
  return {
    forward(ctx, x, T, run) {
      const o = options(run);
      const p = tensors(run);
      const { saved, lowRank } = mtlLoraForward(ctx, x, p.A, p.lambda, p.Bs, p.w, { ...shape, T }, o);
      return { saved: [saved.h, saved.z, saved.pi, saved.bMix], lowRank };
    },
    backward(ctx, x, saved, dy, T, run, grads) {
      const o = options(run);
      const p = tensors(run);
      const [h, z, pi, bMix] = saved;
      const dx = mtlLoraBackward(ctx, x, { h, z, pi, bMix }, dy, p.A, p.lambda, p.Bs, { ...shape, T }, o, {
        dA: grads[slots.A],
        dBs: grads[slots.Bs],
        dLambda: grads[slots.lambda + run.task],
        dw: grads[slots.w + run.task],
        accumulate: true,
      });
      saved.forEach((t) => t.release());
      return dx;
    },
  };
}
