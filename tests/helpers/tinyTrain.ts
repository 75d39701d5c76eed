// A tiny random LLaMA for training tests, held identically on the host (float64 reference) and the GPU, and
// tasks of random token ids: the trainer and driver tests run in milliseconds per iteration on them.

import type { GpuContext } from '../../src/gpu/context';
import type { LlamaConfig } from '../../src/model/config';
import type { ModelWeights } from '../../src/model/weights';
import { uploadWeight } from '../../src/ops/weight';
import type { LlamaRefWeights } from '../../src/reference/llama';
import type { TaskSplit, TokenizedExample } from '../../src/data/tasks';
import { randomF32 } from './random';
import { encodeWeight } from './randomModel';

export interface TinyModel {
  cfg: LlamaConfig;
  ref: LlamaRefWeights;
  weights: ModelWeights;
}

/** F32 matrices U(±√3/√in) (unit gain), norms 1 ± 0.2, tied head; 2 heads sharing 1 KV head. */
export function tinyTrainModel(
  ctx: GpuContext,
  random: () => number,
  dims = { dim: 16, hidden: 32, layers: 2, vocab: 40 },
): TinyModel {
  const cfg: LlamaConfig = {
    arch: 'llama',
    dim: dims.dim,
    hiddenDim: dims.hidden,
    nLayers: dims.layers,
    nHeads: 2,
    nKvHeads: 1,
    headDim: dims.dim / 2,
    vocabSize: dims.vocab,
    normEps: 1e-5,
    ropeTheta: 10000,
    ropePairing: 'adjacent',
    ropeScaling: null,
    tiedEmbeddings: true,
    contextLength: 64,
    qkvBias: false,
  };
  const mat = (rows: number, cols: number, gain = Math.sqrt(3 / cols)) =>
    encodeWeight(
      randomF32(rows * cols, random).map((v) => v * gain),
      rows,
      cols,
      'F32',
    );
  const vec = (n: number) => randomF32(n, random).map((v) => 1 + 0.2 * v);
  const { dim, hiddenDim: hid, vocabSize: V, headDim } = cfg;
  const embed = mat(V, dim, Math.sqrt(3));
  const ref: LlamaRefWeights = {
    embed,
    outNorm: vec(dim),
    head: embed,
    layers: Array.from({ length: cfg.nLayers }, () => ({
      attnNorm: vec(dim),
      wq: mat(2 * headDim, dim),
      wk: mat(headDim, dim),
      wv: mat(headDim, dim),
      wo: mat(dim, 2 * headDim),
      ffnNorm: vec(dim),
      gate: mat(hid, dim),
      up: mat(hid, dim),
      down: mat(dim, hid),
    })),
  };
  const up = (w: typeof embed) => uploadWeight(ctx, w.type, w.rows, w.cols, w.bytes);
  const f32 = (v: ArrayLike<number>) => ctx.upload(Float32Array.from(v), [v.length]);
  const embedGpu = up(embed);
  const weights: ModelWeights = {
    embed: embedGpu,
    outNorm: f32(ref.outNorm),
    head: embedGpu,
    layers: ref.layers.map((l) => ({
      attnNorm: f32(l.attnNorm),
      wq: up(l.wq),
      wk: up(l.wk),
      wv: up(l.wv),
      wo: up(l.wo),
      ffnNorm: f32(l.ffnNorm),
      gate: up(l.gate),
      up: up(l.up),
      down: up(l.down),
    })),
  };
  return { cfg, ref, weights };
}

/** `n` examples of random tokens (BOS-free): prompts of 1–3 tokens, completions of 1–3. */
export function randomTask(name: string, n: number, vocab: number, random: () => number): TaskSplit<TokenizedExample> {
  const ids = (k: number) => Array.from({ length: k }, () => 3 + Math.floor(random() * (vocab - 3)));
  const example = () => ({ prompt: ids(1 + Math.floor(random() * 3)), completion: ids(1 + Math.floor(random() * 3)) });
  return { name, train: Array.from({ length: n }, example), eval: Array.from({ length: 4 }, example) };
}
