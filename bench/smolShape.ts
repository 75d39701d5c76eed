// A random model shaped like SmolLM2-135M (dim 576, ffn 1536, 9 query / 3 KV heads of 64, vocab 49152, tied
// embeddings, up to 30 layers) stored in Q4_0, and random-token tasks for it. The Q4_0 bytes are generated
// directly (random nibbles, a per-block f16 scale giving weights of about N(0, 1/in)), so a 30-layer model
// loads in a second without quantizing 135M floats; the loader keeps Q4_0 as it would from a GGUF file.

import type { GpuContext } from '../src/gpu/context';
import type { LlamaConfig } from '../src/model/config';
import type { TensorSource } from '../src/model/tensorSource';
import { type ModelWeights, loadWeights } from '../src/model/weights';
import { f32ToF16 } from '../src/io/f16';
import { QK, Q4_0_BLOCK_BYTES } from '../src/io/quant';
import type { TaskSplit, TokenizedExample } from '../src/data/tasks';
import { mulberry32 } from '../src/util/mulberry32';

export const SMOL_LAYERS = 30;

export function smolConfig(nLayers = SMOL_LAYERS): LlamaConfig {
  return {
    arch: 'llama',
    dim: 576,
    hiddenDim: 1536,
    nLayers,
    nHeads: 9,
    nKvHeads: 3,
    headDim: 64,
    vocabSize: 49152,
    normEps: 1e-5,
    ropeTheta: 100000,
    ropePairing: 'half',
    ropeScaling: null,
    tiedEmbeddings: true,
    contextLength: 2048,
    qkvBias: false,
  };
}

/** Q4_0 rows of random nibbles; the scale makes each value's std ≈ 1/√cols (a nibble's std is ≈ 4.6). */
function randomQ4_0(rows: number, cols: number, random: () => number): Uint8Array {
  const blocks = (rows * cols) / QK;
  const out = new Uint8Array(blocks * Q4_0_BLOCK_BYTES);
  const scale = f32ToF16(1 / (4.6 * Math.sqrt(cols)));
  for (let b = 0; b < blocks; b++) {
    const at = b * Q4_0_BLOCK_BYTES;
    out[at] = scale & 0xff;
    out[at + 1] = scale >> 8;
    for (let i = 2; i < Q4_0_BLOCK_BYTES; i++) out[at + i] = (random() * 256) | 0;
  }
  return out;
}

function source(name: string, shape: number[], dtype: 'F32' | 'Q4_0', bytes: () => Uint8Array): TensorSource {
  const n = shape.reduce((a, b) => a * b, 1);
  const byteLength = dtype === 'F32' ? 4 * n : (n / QK) * Q4_0_BLOCK_BYTES;
  return { name, shape, dtype, byteLength, read: async () => bytes() };
}

/** The tensors of a random Q4_0 SmolLM2-135M-shaped model, generated lazily as the loader reads them. */
export function smolTensors(config: LlamaConfig, seed = 1): TensorSource[] {
  const random = mulberry32(seed);
  const { dim, hiddenDim: ffn, vocabSize } = config;
  const q = config.nHeads * config.headDim;
  const kv = config.nKvHeads * config.headDim;
  const ones = () => new Uint8Array(Float32Array.from({ length: dim }, () => 1).buffer);
  const matrix = (name: string, rows: number, cols: number) =>
    source(name, [rows, cols], 'Q4_0', () => randomQ4_0(rows, cols, random));
  const t: TensorSource[] = [
    matrix('token_embd.weight', vocabSize, dim),
    source('output_norm.weight', [dim], 'F32', ones),
  ];
  for (let l = 0; l < config.nLayers; l++) {
    const p = `blk.${l}.`;
    t.push(
      source(`${p}attn_norm.weight`, [dim], 'F32', ones),
      source(`${p}ffn_norm.weight`, [dim], 'F32', ones),
      matrix(`${p}attn_q.weight`, q, dim),
      matrix(`${p}attn_k.weight`, kv, dim),
      matrix(`${p}attn_v.weight`, kv, dim),
      matrix(`${p}attn_output.weight`, dim, q),
      matrix(`${p}ffn_gate.weight`, ffn, dim),
      matrix(`${p}ffn_up.weight`, ffn, dim),
      matrix(`${p}ffn_down.weight`, dim, ffn),
    );
  }
  return t;
}

export async function loadSmol(
  ctx: GpuContext,
  nLayers = SMOL_LAYERS,
): Promise<{ config: LlamaConfig; weights: ModelWeights }> {
  const config = smolConfig(nLayers);
  return { config, weights: await loadWeights(ctx, smolTensors(config), config) };
}

/** `tasks` tasks of `perTask` random-token examples, each exactly S tokens: half prompt, half completion. */
export function randomTokenTasks(
  vocab: number,
  S: number,
  tasks: number,
  perTask: number,
  seed = 2,
): TaskSplit<TokenizedExample>[] {
  const random = mulberry32(seed);
  const ids = (k: number) => Array.from({ length: k }, () => 3 + Math.floor(random() * (vocab - 3)));
  return Array.from({ length: tasks }, (_, i) => ({
    name: `task${i}`,
    eval: [],
    train: Array.from({ length: perTask }, () => ({ prompt: ids(S / 2), completion: ids(S - S / 2) })),
  }));
}
