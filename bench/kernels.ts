// `npm run bench -- kernels`: every heavy kernel at the shapes of SmolLM2-135M and stories260K (T = 256 tokens),
// in GFLOP/s (compute-bound ops) or GB/s (bandwidth-bound ops), with TensorFlow.js's WebGPU backend on the same
// device as the peer for the f32 products. Results: bench/results/kernels-<adapter>.json.

import type { GpuContext } from '../src/gpu/context';
import type { Tensor } from '../src/gpu/tensor';
import { attention, attentionBackward } from '../src/ops/attention';
import { crossEntropy } from '../src/ops/crossEntropy';
import { embedding } from '../src/ops/embedding';
import { addLowRank, linear, linearBackwardInput } from '../src/ops/linear';
import { loraBackward, loraForward } from '../src/ops/lora';
import { adamwStep } from '../src/ops/optimizer';
import { fill } from '../src/ops/paramOps';
import { quantizeWeight } from '../src/ops/quantize';
import { rmsnorm, rmsnormBackward } from '../src/ops/rmsnorm';
import { rope } from '../src/ops/rope';
import { swiglu, swigluBackward } from '../src/ops/swiglu';
import { type Weight, type WeightType, uploadWeight } from '../src/ops/weight';
import { type Tf, tfjsOnDevice } from './tfjs';
import { type SaveResults, table, timeIt } from './harness';

export interface Shape {
  model: string;
  dim: number;
  ffn: number;
  H: number;
  KV: number;
  hd: number;
  vocab: number;
  T: number;
}

export const SHAPES: Shape[] = [
  { model: 'SmolLM2-135M', dim: 576, ffn: 1536, H: 9, KV: 3, hd: 64, vocab: 49152, T: 256 },
  { model: 'stories260K', dim: 64, ffn: 172, H: 8, KV: 4, hd: 8, vocab: 512, T: 256 },
];

export interface KernelRow {
  model: string;
  kernel: string;
  shape: string;
  ms: number;
  rate: string;
  vs_tfjs: string;
  /** The rate as a number, in `unit`. */
  value: number;
  unit: 'GFLOP/s' | 'GB/s';
}

const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);

export async function benchKernels(ctx: GpuContext, saveResults: SaveResults): Promise<void> {
  const rows = await measureKernels(ctx, SHAPES, true);
  console.log(
    `\n${table(rows as unknown as Record<string, string | number>[])}\n\nresults: ${saveResults(ctx, 'kernels', rows)}`,
  );
}

/** Times every kernel at each shape; `peer` also times TensorFlow.js's WebGPU backend where it has a peer. */
export async function measureKernels(ctx: GpuContext, shapes: Shape[], peer: boolean): Promise<KernelRow[]> {
  const { tf, flush } = peer ? await tfjsOnDevice(ctx) : { tf: null, flush: () => {} };
  const rows: KernelRow[] = [];
  const sync = () => ctx.sync();
  const time = (run: () => void) => timeIt(run, sync, 3, 0.5);
  const record = (
    s: Shape,
    kernel: string,
    shape: string,
    seconds: number,
    amount: number,
    unit: 'GFLOP/s' | 'GB/s',
    peerSeconds?: number,
  ) => {
    const value = +(amount / seconds / 1e9).toFixed(3);
    const row: KernelRow = {
      model: s.model,
      kernel,
      shape,
      ms: +(seconds * 1e3).toFixed(2),
      rate: `${value} ${unit}`,
      vs_tfjs: peerSeconds ? `${(peerSeconds / seconds).toFixed(2)}×` : '',
      value,
      unit,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  };

  for (const s of shapes) {
    const { T } = s;
    // Linear layers (frozen weights): q/o projection, gate/up, down, forward and input-gradient.
    for (const [name, out, inp] of [
      ['attn_q', s.dim, s.dim],
      ['ffn_up', s.ffn, s.dim],
      ['ffn_down', s.dim, s.ffn],
    ] as const) {
      const flops = 2 * T * out * inp;
      const w32 = rnd(out * inp);
      const x = ctx.upload(rnd(T * inp), [T, inp]);
      const dy = ctx.upload(rnd(T * out), [T, out]);
      const peerTimes = tf ? await tfLinear(tf, flush, ctx, w32, x, dy, T, out, inp) : undefined;
      const f32time: number[] = [];
      for (const type of ['f32', 'f16', 'q8_0', 'q4_0'] as WeightType[]) {
        if ((type === 'q8_0' || type === 'q4_0') && inp % 32) continue;
        const w = makeWeight(ctx, type, w32, out, inp);
        const y = ctx.tensor([T, out]);
        const dx = ctx.tensor([T, inp]);
        const fwd = await time(() => void linear(ctx, x, w, T, {}, y));
        const bwd = await time(() => void linearBackwardInput(ctx, dy, w, T, {}, dx));
        if (type === 'f32') f32time.push(fwd, bwd);
        const shape = `${T}×${inp}→${out}`;
        record(s, `linear ${name} ${type}`, shape, fwd, flops, 'GFLOP/s', type === 'f32' ? peerTimes?.fwd : undefined);
        record(
          s,
          `linear ${name} ${type} dx`,
          shape,
          bwd,
          flops,
          'GFLOP/s',
          type === 'f32' ? peerTimes?.bwd : undefined,
        );
        if (type !== 'f32') rows[rows.length - 2].vs_tfjs = `${(f32time[0] / fwd).toFixed(2)}× f32`;
        if (type !== 'f32') rows[rows.length - 1].vs_tfjs = `${(f32time[1] / bwd).toFixed(2)}× f32`;
        [y, dx, w.data].forEach((t) => t.release());
      }
      [x, dy].forEach((t) => t.release());
    }

    // Attention (causal, GQA), one sequence of T tokens.
    {
      const dims = { B: 1, S: T, H: s.H, KV: s.KV, hd: s.hd };
      const q = ctx.upload(rnd(T * s.H * s.hd), [T, s.H * s.hd]);
      const k = ctx.upload(rnd(T * s.KV * s.hd), [T, s.KV * s.hd]);
      const v = ctx.upload(rnd(T * s.KV * s.hd), [T, s.KV * s.hd]);
      const dO = ctx.upload(rnd(T * s.H * s.hd), [T, s.H * s.hd]);
      const lengths = ctx.upload(Uint32Array.of(T), [1], 'u32');
      // Useful FLOPs of causal attention: QKᵀ and PV over the lower triangle; backward counted as 2.5× forward.
      const flops = (2 * 2 * s.H * s.hd * (T * (T + 1))) / 2;
      let fo: { o: Tensor<'f32'>; lse: Tensor<'f32'> } | null = null;
      const fwd = await time(() => {
        fo?.o.release();
        fo?.lse.release();
        fo = attention(ctx, q, k, v, lengths, dims);
      });
      const { o, lse } = attention(ctx, q, k, v, lengths, dims);
      const bwd = await time(() => {
        const g = attentionBackward(ctx, q, k, v, o, lse, dO, lengths, dims);
        [g.dq, g.dk, g.dv].forEach((t) => t.release());
      });
      const peerTime = tf ? await tfAttention(tf, flush, ctx, s) : undefined;
      const shape = `S=${T} H=${s.H} KV=${s.KV} hd=${s.hd}`;
      record(s, 'attention fwd', shape, fwd, flops, 'GFLOP/s', peerTime);
      record(s, 'attention bwd', shape, bwd, 2.5 * flops, 'GFLOP/s');
    }

    // Per-token ops: bandwidth-bound, reported in GB/s of tensor traffic.
    {
      const x = ctx.upload(rnd(T * s.dim), [T, s.dim]);
      const w = ctx.upload(rnd(s.dim), [s.dim]);
      const dy = ctx.upload(rnd(T * s.dim), [T, s.dim]);
      const { y, rrms } = rmsnorm(ctx, x, w, { T, D: s.dim, eps: 1e-5 });
      const dx = ctx.tensor([T, s.dim]);
      const bytes = 4 * T * s.dim;
      record(
        s,
        'rmsnorm fwd',
        `${T}×${s.dim}`,
        await time(() => void rmsnorm(ctx, x, w, { T, D: s.dim, eps: 1e-5 }, { y, rrms })),
        2 * bytes,
        'GB/s',
      );
      record(
        s,
        'rmsnorm bwd',
        `${T}×${s.dim}`,
        await time(() => void rmsnormBackward(ctx, dy, x, w, rrms, { T, D: s.dim }, {}, dx)),
        3 * bytes,
        'GB/s',
      );

      const g = ctx.upload(rnd(T * s.ffn), [T, s.ffn]);
      const u = ctx.upload(rnd(T * s.ffn), [T, s.ffn]);
      const h = swiglu(ctx, g, u);
      const fb = 4 * T * s.ffn;
      record(s, 'swiglu fwd', `${T}×${s.ffn}`, await time(() => void swiglu(ctx, g, u, h)), 3 * fb, 'GB/s');
      const grads = swigluBackward(ctx, h, g, u);
      record(
        s,
        'swiglu bwd',
        `${T}×${s.ffn}`,
        await time(() => void swigluBackward(ctx, h, g, u, grads)),
        5 * fb,
        'GB/s',
      );

      const q = ctx.upload(rnd(T * s.H * s.hd), [T, s.H * s.hd]);
      const k = ctx.upload(rnd(T * s.KV * s.hd), [T, s.KV * s.hd]);
      const pos = ctx.upload(
        Uint32Array.from({ length: T }, (_, i) => i),
        [T],
        'u32',
      );
      record(
        s,
        'rope',
        `${T}×(${s.H}+${s.KV})×${s.hd}`,
        await time(() =>
          rope(ctx, q, k, pos, { T, nHeads: s.H, nKvHeads: s.KV, headDim: s.hd, theta: 10000, pairing: 'half' }),
        ),
        2 * 4 * T * (s.H + s.KV) * s.hd,
        'GB/s',
      );

      const ids = ctx.upload(
        Uint32Array.from({ length: T }, (_, i) => (i * 7919) % s.vocab),
        [T],
        'u32',
      );
      const table32 = rnd(s.vocab * s.dim);
      for (const type of ['f32', 'q8_0'] as WeightType[]) {
        const tw = makeWeight(ctx, type, table32, s.vocab, s.dim);
        let e: Tensor<'f32'> | null = null;
        record(
          s,
          `embedding ${type}`,
          `${T} of ${s.vocab}×${s.dim}`,
          await time(() => {
            e?.release();
            e = embedding(ctx, tw, ids, T);
          }),
          bytes,
          'GB/s',
        );
        tw.data.release();
      }
    }

    // Cross-entropy over the vocabulary, fused with dlogits (T = 128 rows keeps SmolLM2's 25 MB of logits sane).
    {
      const rowsCE = Math.min(T, 128);
      const logits = ctx.upload(rnd(rowsCE * s.vocab), [rowsCE, s.vocab]);
      const targets = ctx.upload(
        Int32Array.from({ length: rowsCE }, (_, i) => (i * 31) % s.vocab),
        [rowsCE],
        'i32',
      );
      const out = crossEntropy(ctx, logits, targets, { T: rowsCE, V: s.vocab, gradScale: 1 / rowsCE });
      record(
        s,
        'cross-entropy fwd+bwd',
        `${rowsCE}×${s.vocab}`,
        await time(
          () => void crossEntropy(ctx, logits, targets, { T: rowsCE, V: s.vocab, gradScale: 1 / rowsCE }, out),
        ),
        2 * 4 * rowsCE * s.vocab,
        'GB/s',
      );
    }

    // LoRA path on the q projection (r = 8): forward, and backward to dA, dB and dx.
    {
      const r = 8;
      const d = { T, in: s.dim, out: s.dim, r };
      const o = { scale: 2 };
      const x = ctx.upload(rnd(T * s.dim), [T, s.dim]);
      const A = ctx.upload(rnd(r * s.dim), [r, s.dim]);
      const B = ctx.upload(rnd(s.dim * r), [s.dim, r]);
      const y = ctx.tensor([T, s.dim]);
      const dy = ctx.upload(rnd(T * s.dim), [T, s.dim]);
      const dx = ctx.tensor([T, s.dim]);
      const dA = ctx.tensor([r, s.dim]);
      const dB = ctx.tensor([s.dim, r]);
      // The last products (y += s·h·Bᵀ, dx += dh·A) as the f32 base's matmul adds them (quantized bases add them
      // in the linear's epilogue instead).
      const forward = () => {
        const b = loraForward(ctx, x, A, B, d, o);
        addLowRank(ctx, b.lowRank, T, s.dim, y);
        return b.h;
      };
      const backward = () => {
        const part = loraBackward(ctx, x, h, dy, A, B, d, o, { dA, dB });
        addLowRank(ctx, part.lowRank!, T, s.dim, dx);
        part.finish(dx);
      };
      const h = forward();
      const flops = 2 * 2 * T * s.dim * r;
      record(s, 'lora fwd', `${T}×${s.dim} r=${r}`, await time(() => forward().release()), flops, 'GFLOP/s');
      record(s, 'lora bwd', `${T}×${s.dim} r=${r}`, await time(backward), 2 * flops, 'GFLOP/s');

      // AdamW over every LoRA tensor of the model (q, k, v, o of each layer ≈ 4 × (A + B) per layer).
      const n = 4 * 2 * r * s.dim * 30;
      const [p, gr, m, vv] = [0, 1, 2, 3].map(() => ctx.upload(rnd(n), [n]));
      fill(ctx, [m, vv], 0);
      let step = 0;
      record(
        s,
        'adamw',
        `${n} params`,
        await time(() => adamwStep(ctx, [p], [gr], [m], [vv], { lr: 1e-4, step: ++step })),
        7 * 4 * n,
        'GB/s',
      );
    }
  }
  return rows;
}

function makeWeight(ctx: GpuContext, type: WeightType, w32: Float32Array, rows: number, cols: number): Weight {
  if (type === 'q8_0' || type === 'q4_0') {
    const t = ctx.upload(w32, [rows, cols]);
    const w = quantizeWeight(ctx, t, rows, cols, type);
    t.release();
    return w;
  }
  if (type === 'f32') return uploadWeight(ctx, 'f32', rows, cols, new Uint8Array(w32.buffer.slice(0)));
  const h = new Uint16Array(w32.length);
  for (let i = 0; i < h.length; i++) h[i] = 0x3c00 ^ (i & 0x3ff); // values near 1: speed does not depend on them
  return uploadWeight(ctx, 'f16', rows, cols, new Uint8Array(h.buffer));
}

/** TF.js: y = x·Wᵀ and dx = dy·W with f32 W, on the same device. */
async function tfLinear(
  tf: Tf,
  flush: () => void,
  ctx: GpuContext,
  w32: Float32Array,
  x: Tensor<'f32'>,
  dy: Tensor<'f32'>,
  T: number,
  out: number,
  inp: number,
): Promise<{ fwd: number; bwd: number }> {
  const sync = async () => {
    flush();
    await ctx.device.queue.onSubmittedWorkDone();
  };
  const W = tf.tensor2d(w32, [out, inp]);
  const X = tf.tensor2d(await ctx.read(x), [T, inp]);
  const DY = tf.tensor2d(await ctx.read(dy), [T, out]);
  let r: ReturnType<Tf['matMul']> | null = null;
  const fwd = await timeIt(
    () => {
      r?.dispose();
      r = tf.matMul(X, W, false, true);
    },
    sync,
    3,
    0.5,
  );
  const bwd = await timeIt(
    () => {
      r?.dispose();
      r = tf.matMul(DY, W);
    },
    sync,
    3,
    0.5,
  );
  (r as ReturnType<Tf['matMul']> | null)?.dispose();
  [W, X, DY].forEach((t) => t.dispose());
  return { fwd, bwd };
}

/** TF.js composition of causal attention (scores, mask, softmax, weighted sum) with KV heads repeated. */
async function tfAttention(tf: Tf, flush: () => void, ctx: GpuContext, s: Shape): Promise<number> {
  const sync = async () => {
    flush();
    await ctx.device.queue.onSubmittedWorkDone();
  };
  const T = s.T;
  const q = tf.randomNormal([s.H, T, s.hd]);
  const k = tf.randomNormal([s.H, T, s.hd]);
  const v = tf.randomNormal([s.H, T, s.hd]);
  const mask = tf.tidy(() => tf.mul(tf.sub(tf.linalg.bandPart(tf.ones([T, T]), -1, 0), 1), 1e9));
  let o: ReturnType<Tf['matMul']> | null = null;
  const seconds = await timeIt(
    () => {
      o?.dispose();
      o = tf.tidy(() =>
        tf.matMul(tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(s.hd)), mask)), v),
      );
    },
    sync,
    3,
    0.5,
  );
  (o as ReturnType<Tf['matMul']> | null)?.dispose();
  [q, k, v, mask].forEach((t) => t.dispose());
  return seconds;
}
