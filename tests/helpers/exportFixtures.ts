// Adapters and forwards for the export tests: random adapter data (every parameter non-zero, so an export
// that drops, transposes or misorders a tensor changes the logits), in the exact form `train --out DIR`
// writes it, and our own GPU forward of a base model with such an adapter applied — the reference every
// exported file is compared against, by our reader, our loader or llama.cpp.

import { adaptedSites } from '../../src/adapters/lora';
import { ALL_TARGETS, type TargetModule, modulePath, targetDims } from '../../src/adapters/types';
import { adapterFromData } from '../../src/cli/adapterDir';
import { adapterForwardLogits } from '../../src/cli/logits';
import type { AdapterData } from '../../src/export/adapterData';
import type { LlamaConfig } from '../../src/model/config';
import { forwardLogits } from '../../src/model/forward';
import { type ModelFiles, loadModel } from '../../src/model/load';
import { releaseWeights } from '../../src/model/weights';
import type { NamedTensor } from '../../src/train/checkpoint';
import { resolveSettings } from '../../src/train/settings';
import { gpu } from './gpu';
import { randomF32, rng } from './random';

export interface AdapterSpec {
  method: 'lora' | 'mtl-lora';
  rank: number;
  alpha: number;
  targets: TargetModule[];
  /** MTL-LoRA: task names and up-projections. */
  tasks?: string[];
  nUp?: number;
  tau?: number;
  seed: number;
}

/**
 * Random adapter parameters at sizes where the adapter visibly moves the logits without swamping the base:
 * A U(±1/√in) as PEFT's init, B U(±0.5/√r); MTL-LoRA's Λ_t = I + U(±0.3) and w_t U(±1).
 */
export function randomAdapterData(cfg: LlamaConfig, spec: AdapterSpec): AdapterData {
  const tasks = spec.tasks ?? ['all'];
  const settings = resolveSettings(spec.method, {
    rank: spec.rank,
    loraAlpha: spec.alpha,
    targets: spec.targets,
    seed: spec.seed,
    mtlUpProjections: spec.nUp ?? 3,
    mtlTau: spec.tau ?? 0.5,
  });
  const random = rng(spec.seed);
  const uniform = (n: number, bound: number) => randomF32(n, random).map((v) => v * bound);
  const tensors = new Map<string, NamedTensor>();
  const add = (name: string, shape: number[], data: Float32Array) => tensors.set(name, { name, shape, data });
  const r = spec.rank;
  const targets = ALL_TARGETS.filter((t) => spec.targets.includes(t));
  for (const { layer, target } of adaptedSites(cfg, { rank: r, alpha: spec.alpha, dropout: 0, targets })) {
    const d = targetDims(cfg, target);
    const path = modulePath(layer, target);
    if (spec.method === 'lora') {
      add(`${path}.lora_A.weight`, [r, d.in], uniform(r * d.in, 1 / Math.sqrt(d.in)));
      add(`${path}.lora_B.weight`, [d.out, r], uniform(d.out * r, 0.5 / Math.sqrt(r)));
      continue;
    }
    const n = settings.mtlUpProjections;
    add(`${path}.mtl_lora_A.weight`, [r, d.in], uniform(r * d.in, 1 / Math.sqrt(d.in)));
    add(`${path}.mtl_lora_B.weight`, [n, d.out, r], uniform(n * d.out * r, 0.5 / Math.sqrt(r)));
    tasks.forEach((_, t) =>
      add(
        `${path}.mtl_lora_Lambda.${t}.weight`,
        [r, r],
        uniform(r * r, 0.3).map((v, i) => v + (i % (r + 1) === 0 ? 1 : 0)),
      ),
    );
    tasks.forEach((_, t) => add(`${path}.mtl_lora_w.${t}`, [n], uniform(n, 1)));
  }
  return {
    config: {
      peft_type: spec.method === 'lora' ? 'LORA' : 'MTL_LORA',
      task_type: 'CAUSAL_LM',
      r,
      lora_alpha: spec.alpha,
      target_modules: targets.map((t) => `${t}_proj`),
      lora_dropout: 0,
      bias: 'none',
      fan_in_fan_out: false,
      base_model_name_or_path: 'test-base',
      inference_mode: true,
      metalora: { method: spec.method, tasks, settings },
    },
    tensors,
  };
}

/**
 * Our GPU logits [T][vocab] for `tokens` on the base `files`, with `adapter` applied (as task `task` for
 * MTL-LoRA), or of the base alone when `adapter` is null.
 */
export async function ourLogits(
  files: ModelFiles,
  adapter: AdapterData | null,
  tokens: number[],
  task = 0,
): Promise<{ config: LlamaConfig; rows: Float64Array[] }> {
  const ctx = await gpu();
  const m = await loadModel(ctx, files);
  const ids = Uint32Array.from(tokens);
  let logits;
  if (adapter) {
    const a = adapterFromData(ctx, m.config, adapter);
    logits = adapterForwardLogits(ctx, m, a, { task, dropoutSeed: 0, params: a.params }, ids);
    a.release();
  } else {
    logits = forwardLogits(ctx, m.weights, m.config, ids);
  }
  const flat = await ctx.read(logits);
  logits.release();
  releaseWeights(m.weights);
  const V = m.config.vocabSize;
  return { config: m.config, rows: tokens.map((_, t) => Float64Array.from(flat.subarray(t * V, (t + 1) * V))) };
}

/** The worst position's max|a − b| / max|b| (as tests/oracle/llamacpp.test.ts measures logits). */
export function relError(a: Float64Array[], b: Float64Array[]): number {
  if (a.length !== b.length) throw new Error(`${a.length} rows vs ${b.length}`);
  return Math.max(
    ...a.map((row, t) => {
      let diff = 0;
      let scale = 0;
      row.forEach((x, v) => {
        diff = Math.max(diff, Math.abs(x - b[t][v]));
        scale = Math.max(scale, Math.abs(b[t][v]));
      });
      return row.some(Number.isNaN) || b[t].some(Number.isNaN) ? NaN : diff / scale;
    }),
  );
}
