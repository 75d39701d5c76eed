// The adapter a run starts from, computed on the host: the same values src/adapters/lora.ts and mtlLora.ts
// upload (both draw from src/adapters/init.ts, a pure function of the seed and each tensor's name), under the
// same names and in the same order, so the PyTorch recipe starts exactly where the studio's run started.

import { identity, kaimingUniform } from '../../adapters/init';
import { adaptedSites } from '../../adapters/lora';
import { modulePath, targetDims } from '../../adapters/types';
import type { LlamaConfig } from '../../model/config';
import type { NamedTensor } from '../../train/checkpoint';
import type { TrainSettings } from '../../train/settings';

/** Every parameter of the method's adapter at initialisation (B and the B^i stacks zero). */
export function initialAdapterTensors(cfg: LlamaConfig, s: TrainSettings, tasks: number): NamedTensor[] {
  const r = s.rank;
  const out: NamedTensor[] = [];
  const add = (name: string, shape: number[], data: Float32Array) => out.push({ name, shape, data });
  for (const { layer, target } of adaptedSites(cfg, {
    rank: r,
    alpha: s.loraAlpha,
    dropout: s.dropout,
    targets: s.targets,
  })) {
    const dims = targetDims(cfg, target);
    const path = modulePath(layer, target);
    if (s.method !== 'mtl-lora') {
      add(`${path}.lora_A.weight`, [r, dims.in], kaimingUniform(r * dims.in, dims.in, s.seed, `${path}.lora_A.weight`));
      add(`${path}.lora_B.weight`, [dims.out, r], new Float32Array(dims.out * r));
      continue;
    }
    const n = s.mtlUpProjections;
    add(
      `${path}.mtl_lora_A.weight`,
      [r, dims.in],
      kaimingUniform(r * dims.in, dims.in, s.seed, `${path}.mtl_lora_A.weight`),
    );
    add(`${path}.mtl_lora_B.weight`, [n, dims.out, r], new Float32Array(n * dims.out * r));
    for (let t = 0; t < tasks; t++) add(`${path}.mtl_lora_Lambda.${t}.weight`, [r, r], identity(r));
    for (let t = 0; t < tasks; t++) {
      const name = `${path}.mtl_lora_w.${t}`;
      add(name, [n], s.mtlWInit === 'kaiming' ? kaimingUniform(n, n, s.seed, name) : new Float32Array(n));
    }
  }
  return out;
}
