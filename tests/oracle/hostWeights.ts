// A model file's weights read to the host as the float64 reference takes them (raw bytes per matrix,
// norms decoded), so the reference can run on real checkpoints such as stories260K.

import type { ModelDescription } from '../../src/model/load';
import { toF32 } from '../../src/model/weights';
import type { WeightType } from '../../src/ops/weight';
import type { HostWeight } from '../../src/reference/linear';
import type { LlamaRefWeights } from '../../src/reference/llama';

export async function hostWeights({ tensors, config }: ModelDescription): Promise<LlamaRefWeights> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const get = (name: string) => {
    const t = byName.get(name);
    if (!t) throw new Error(`tensor ${name} is missing`);
    return t;
  };
  const matrix = async (name: string): Promise<HostWeight> => {
    const t = get(name);
    if (!['F32', 'F16', 'Q8_0', 'Q4_0'].includes(t.dtype)) throw new Error(`${name}: ${t.dtype} has no host reference`);
    return { type: t.dtype.toLowerCase() as WeightType, rows: t.shape[0], cols: t.shape[1], bytes: await t.read() };
  };
  const vector = async (name: string) => toF32(get(name).dtype, await get(name).read(), name);
  const embed = await matrix('token_embd.weight');
  const layers = [];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `blk.${l}.`;
    layers.push({
      attnNorm: await vector(`${p}attn_norm.weight`),
      ffnNorm: await vector(`${p}ffn_norm.weight`),
      wq: await matrix(`${p}attn_q.weight`),
      wk: await matrix(`${p}attn_k.weight`),
      wv: await matrix(`${p}attn_v.weight`),
      wo: await matrix(`${p}attn_output.weight`),
      gate: await matrix(`${p}ffn_gate.weight`),
      up: await matrix(`${p}ffn_up.weight`),
      down: await matrix(`${p}ffn_down.weight`),
    });
  }
  const outNorm = await vector('output_norm.weight');
  const head = config.tiedEmbeddings ? embed : await matrix('output.weight');
  return { embed, layers, outNorm, head };
}
