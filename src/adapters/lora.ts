// Plain LoRA as an Adapter (docs/DESIGN.md §4): per adapted (layer, target), A [r, in] (PEFT's Kaiming-uniform,
// U(±1/√in), seeded) and B [out, r] (zero), y += (α/r)·B·A·drop(x). Parameters are named and shaped exactly
// as PEFT saves them (…layers.{l}.self_attn.q_proj.lora_A.weight), ordered layer by layer, targets in
// ALL_TARGETS order, A before B, so the list maps one to one onto adapter_model.safetensors.
// Sites compute with run.params (a MeTA-LoRA local copy θ_i works the same) and add into `grads`; with
// run.groups, each row group (task) with its own copy of A and B and its own gradient copy or a summed one.

import type { GpuContext } from '../gpu/context';
import { TensorPack } from '../gpu/tensorPack';
import type { LlamaConfig } from '../model/config';
import { loraBackward, loraForward } from '../ops/lora';
import type { SplitKReduce } from '../ops/splitK';
import { kaimingUniform, siteDropoutSeed } from './init';
import {
  ALL_TARGETS,
  type Adapter,
  type AdapterRun,
  type AdapterSite,
  type LoraSettings,
  type TargetModule,
  modulePath,
  targetDims,
} from './types';

/** Throws a clear message for settings no adapter can use. */
export function checkLoraSettings(s: LoraSettings): void {
  if (!Number.isInteger(s.rank) || s.rank < 1) throw new Error(`LoRA rank must be a positive integer, got ${s.rank}`);
  if (!Number.isFinite(s.alpha)) throw new Error(`LoRA alpha must be finite, got ${s.alpha}`);
  if (!(s.dropout >= 0 && s.dropout < 1)) throw new Error(`LoRA dropout must be in [0, 1), got ${s.dropout}`);
  if (s.targets.length === 0) throw new Error('LoRA needs at least one target module');
  for (const t of s.targets) {
    if (!ALL_TARGETS.includes(t)) throw new Error(`unknown LoRA target "${t}" (known: ${ALL_TARGETS.join(', ')})`);
  }
  if (new Set(s.targets).size !== s.targets.length) throw new Error(`LoRA targets repeat: ${s.targets.join(', ')}`);
}

/** The adapted (layer, target) pairs in parameter order. */
export function adaptedSites(cfg: LlamaConfig, s: LoraSettings): { layer: number; target: TargetModule }[] {
  const out: { layer: number; target: TargetModule }[] = [];
  for (let layer = 0; layer < cfg.nLayers; layer++) {
    for (const target of ALL_TARGETS) if (s.targets.includes(target)) out.push({ layer, target });
  }
  return out;
}

/** A LoRA adapter for `cfg`, initialised from `seed` as PEFT does (A Kaiming-uniform, B zero). */
export function createLora(ctx: GpuContext, cfg: LlamaConfig, settings: LoraSettings, seed: number): Adapter {
  checkLoraSettings(settings);
  const r = settings.rank;
  const scale = settings.alpha / r;
  const names: string[] = [];
  const values: Float32Array[] = [];
  const shapes: number[][] = [];
  const sites = new Map<string, AdapterSite>();
  for (const { layer, target } of adaptedSites(cfg, settings)) {
    const dims = targetDims(cfg, target);
    const path = modulePath(layer, target);
    const iA = names.length;
    names.push(`${path}.lora_A.weight`, `${path}.lora_B.weight`);
    values.push(kaimingUniform(r * dims.in, dims.in, seed, names[iA]), new Float32Array(dims.out * r));
    shapes.push([r, dims.in], [dims.out, r]);
    sites.set(`${layer}.${target}`, loraSite(iA, iA + 1, { ...dims, r }, scale, settings.dropout, layer, target));
  }
  // One pack: optimizer steps, copies and checks over the whole list are one dispatch each.
  const params = TensorPack.create(ctx, shapes, { values }).tensors;
  return {
    kind: 'lora',
    settings,
    names,
    params,
    site: (layer, target) => sites.get(`${layer}.${target}`) ?? null,
    release: () => params.forEach((p) => p.release()),
  };
}

/** The site of one (layer, target): A = params[iA], B = params[iB]. */
function loraSite(
  iA: number,
  iB: number,
  shape: { in: number; out: number; r: number },
  scale: number,
  dropout: number,
  layer: number,
  target: TargetModule,
): AdapterSite {
  const options = (run: AdapterRun, reduce?: SplitKReduce) => {
    const seed = siteDropoutSeed(run.dropoutSeed, layer, target);
    const g = run.groups;
    if (!g) return { scale, dropout, seed, reduce };
    // Each group's own seed for this site; its copies of A and B (and of their gradients) by stride.
    return {
      scale,
      dropout,
      seed,
      reduce,
      groups: { ...g, seeds: g.seeds.map((s) => siteDropoutSeed(s, layer, target)) },
      strides: { A: g.paramStrides[iA], B: g.paramStrides[iB], dA: g.gradStrides[iA], dB: g.gradStrides[iB] },
    };
  };
  return {
    forward(ctx, x, T, run) {
      const { h, lowRank } = loraForward(ctx, x, run.params[iA], run.params[iB], { ...shape, T }, options(run));
      return { saved: [h], lowRank };
    },
    backward(ctx, x, saved, dy, T, run, grads, reduce) {
      const dx = loraBackward(
        ctx,
        x,
        saved[0],
        dy,
        run.params[iA],
        run.params[iB],
        { ...shape, T },
        options(run, reduce),
        { dA: grads[iA], dB: grads[iB], accumulate: true },
      );
      saved.forEach((t) => t.release());
      return dx;
    },
  };
}
