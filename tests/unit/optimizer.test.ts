// Optimizer steps, gradient-norm clipping and parameter-list ops against the float64 reference.
//
// Every op runs on one list of tensors at awkward lengths: 1, 7, 1000, 65540 (crosses many workgroups and
// ends inside one) and BIG, over 65535 workgroups of ELEMENTWISE_WG invocations, so grid1d folds its grid
// into x·y. Inputs are exact f32, so each bound below counts the roundings a correct kernel may make, in
// units of u = 2⁻²⁴ (relative error of one correctly rounded f32 operation). WGSL allows division 2.5 ULP
// (≤ 5u) and sqrt 1/inverseSqrt-accurate (≤ 9u), not correctly rounded; the bounds use those figures.
// Any indexing or formula bug (a missing decay, a wrong bias correction, an element skipped) costs orders of
// magnitude more than these bounds.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import { TensorPack } from '../../src/gpu/tensorPack';
import { NORM_PER_THREAD, NORM_WG, adamwStep, gradNorm, sgdStep } from '../../src/ops/optimizer';
import { ELEMENTWISE_WG, axpy, copyInto, fill, meanInto, nonFiniteFlag, scale } from '../../src/ops/paramOps';
import {
  type AdamWRefOptions,
  adamwStepRef,
  axpyRef,
  gradNormRef,
  meanIntoRef,
  scaleRef,
  sgdStepRef,
} from '../../src/reference/optimizer';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { freshSeed, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);
const TINY = 1e-30;
const BIG = 65535 * ELEMENTWISE_WG + 3;
const LENGTHS = [1, 7, 1000, 65537 + 3, BIG];
const seed = freshSeed();

/** Uniform f32 in [−scaleBy, scaleBy), as randomF32 but a plain loop: it is 5× faster at millions. */
function randomList(random: () => number, lengths = LENGTHS, scaleBy = 1): Float32Array[] {
  return lengths.map((n) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = (random() * 2 - 1) * scaleBy;
    return a;
  });
}

const upload = (ctx: GpuContext, list: Float32Array[]) => list.map((a) => ctx.upload(a, [a.length]));
const readAll = (ctx: GpuContext, list: readonly Tensor<'f32'>[]) => Promise.all(list.map((t) => ctx.read(t)));
const releaseAll = (...lists: readonly Tensor[][]) => lists.flat().forEach((t) => t.release());

/** Mismatches of every tensor of a list; empty when all are within their bounds. */
function listMismatches(got: ArrayLike<number>[], want: ArrayLike<number>[], bound: (t: number, i: number) => number) {
  return got.flatMap((g, t) => mismatches(g, want[t], (i) => bound(t, i)).map((m) => ({ tensor: t, ...m })));
}

describe(`optimizer steps vs float64 reference (seed ${seed})`, () => {
  it('sgdStep, with and without a clip factor on the GPU', async () => {
    const ctx = await gpu();
    const random = rng(seed);
    const p0 = randomList(random);
    const g = randomList(random);
    const lr = 0.37;
    const clip = Float32Array.of(3.5, Math.fround(0.618034));
    const [tg, tc] = [upload(ctx, g), ctx.upload(clip, [2])];
    for (const c of [undefined, clip]) {
      const tp = upload(ctx, p0);
      sgdStep(ctx, tp, tg, lr, c && tc);
      const want = sgdStepRef(p0, g, lr, c);
      const factor = c ? c[1] : 1;
      // f32 lr, g·c and lr·(g·c) round once each (3u of the step, 4u with second-order terms), the
      // subtraction once (u of the result).
      const bound = (t: number, i: number) => U * Math.abs(want[t][i]) + 4 * U * Math.abs(lr * factor * g[t][i]) + TINY;
      expect(listMismatches(await readAll(ctx, tp), want, bound)).toEqual([]);
      releaseAll(tp);
    }
    releaseAll(tg, [tc]);
  });

  const adamwCases: { name: string; o: AdamWRefOptions; zeroState: boolean; clip?: Float32Array }[] = [
    {
      name: 'first step from zero state, PyTorch defaults',
      zeroState: true,
      o: { lr: 1e-3, step: 1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 },
    },
    // Large lr, wd and eps so that decay, bias corrections and eps each move θ far beyond the bound.
    {
      name: 'step 7 from random state, clipped, every term visible',
      zeroState: false,
      o: { lr: 0.05, step: 7, beta1: 0.8, beta2: 0.99, eps: 1e-2, weightDecay: 0.2 },
      clip: Float32Array.of(9, Math.fround(0.3)),
    },
  ];
  for (const { name, o, zeroState, clip } of adamwCases) {
    it(`adamwStep: ${name}`, async () => {
      const ctx = await gpu();
      const random = rng(seed + 1);
      const p0 = randomList(random);
      const g = randomList(random);
      const m0 = zeroState ? LENGTHS.map((n) => new Float32Array(n)) : randomList(random, LENGTHS, 0.1);
      const v0 = zeroState
        ? LENGTHS.map((n) => new Float32Array(n))
        : randomList(random, LENGTHS, 0.01).map((a) => a.map(Math.abs));
      const [tp, tg, tm, tv] = [upload(ctx, p0), upload(ctx, g), upload(ctx, m0), upload(ctx, v0)];
      const tc = clip && ctx.upload(clip, [2]);
      adamwStep(ctx, tp, tg, tm, tv, o, tc);
      const want = adamwStepRef(p0, g, m0, v0, o, clip);
      const c = clip ? clip[1] : 1;
      // m: β1, 1−β1, g·c, two products and a sum: ≤ 4u of Σ|terms|.
      const mAbs = (t: number, i: number) => o.beta1 * Math.abs(m0[t][i]) + (1 - o.beta1) * Math.abs(c * g[t][i]);
      expect(listMismatches(await readAll(ctx, tm), want.m, (t, i) => 4 * U * mAbs(t, i) + TINY)).toEqual([]);
      // v: as m, with g·c rounded twice into g² (no cancellation: all terms are ≥ 0): ≤ 6u.
      const vAbs = (t: number, i: number) => o.beta2 * v0[t][i] + (1 - o.beta2) * (c * g[t][i]) ** 2;
      expect(listMismatches(await readAll(ctx, tv), want.v, (t, i) => 6 * U * vAbs(t, i) + TINY)).toEqual([]);
      // θ: denominator sqrt(v) (½·6u + 9u) / sqrt(bc2) (u + 5u) + eps (2u) ≤ 20u relative; then m/denom
      // (5u) and lr/bc1 (2u) give ≤ 27u of the step on top of m's absolute 4u·Σ|terms|; the decay θ·(1−lr·wd)
      // rounds twice (2u) and the final subtraction once (u of the result).
      const bc1 = 1 - o.beta1 ** o.step;
      const bc2 = 1 - o.beta2 ** o.step;
      const bound = (t: number, i: number) => {
        const denom = Math.sqrt(want.v[t][i]) / Math.sqrt(bc2) + o.eps;
        const stepErr = (o.lr / bc1 / denom) * (4 * U * mAbs(t, i) + 27 * U * Math.abs(want.m[t][i]));
        return U * Math.abs(want.params[t][i]) + 2 * U * Math.abs(p0[t][i]) + stepErr + TINY;
      };
      expect(listMismatches(await readAll(ctx, tp), want.params, bound)).toEqual([]);
      releaseAll(tp, tg, tm, tv, tc ? [tc] : []);
    });
  }

  it('rejects lists that do not pair up', async () => {
    const ctx = await gpu();
    const [a, b] = [ctx.tensor([5]), ctx.tensor([6])];
    expect(() => sgdStep(ctx, [a], [b], 0.1)).toThrow(/tensor 0 has 5 elements but its gradient has 6/);
    expect(() => adamwStep(ctx, [a], [a], [a], [], { lr: 1, step: 1 })).toThrow(/1 tensors but 0 of second moment/);
    expect(() => adamwStep(ctx, [a], [a], [a], [a], { lr: 1, step: 0 })).toThrow(/positive integer/);
    releaseAll([a, b]);
  });
});

describe(`gradient-norm clipping vs float64 reference (seed ${seed})`, () => {
  // Σg² is a sum of non-negative terms, so its relative error is at most γ_D for D the longest chain of
  // roundings one term passes: its square, NORM_PER_THREAD sequential adds, a NORM_WG-wide tree, the
  // finishing pass's ⌈partials/NORM_WG⌉ sequential adds and another tree. sqrt (≤ 9u) halves the sum's
  // error: norm ≤ (γ_D/2 + 9u) relative. factor = maxNorm/(norm + 1e-6) adds f32 maxNorm, the sum and the
  // division (2u + 5u).
  const tree = Math.log2(NORM_WG);
  const depth = (partials: number) => 1 + NORM_PER_THREAD + tree + Math.ceil(partials / NORM_WG) + tree;
  const chunk = NORM_WG * NORM_PER_THREAD;

  it('norm and factor over many tensors (one empty), deterministic, read back for logging', async () => {
    const ctx = await gpu();
    const random = rng(seed + 2);
    const g = [new Float32Array(0), ...randomList(random)];
    const tg = upload(ctx, g);
    const partials = g.reduce((s, a) => s + Math.ceil(a.length / chunk), 0);
    const normRel = gamma(depth(partials)) / 2 + 9 * U;
    for (const maxNorm of [1.5, 1e6, Infinity]) {
      const want = gradNormRef(g, maxNorm);
      const got = await ctx.read(gradNorm(ctx, tg, maxNorm));
      expect(Math.abs(got[0] - want[0])).toBeLessThanOrEqual(normRel * want[0]);
      expect(Math.abs(got[1] - want[1])).toBeLessThanOrEqual((normRel + 7 * U) * want[1]);
      expect(got[1] < 1).toBe(maxNorm === 1.5);
      // Fixed partition and reduction order: the same bits every time.
      expect(await ctx.read(gradNorm(ctx, tg, maxNorm))).toEqual(got);
    }
    releaseAll(tg);
  });

  it('sgdStep reads the factor that gradNorm left on the GPU (no readback in between)', async () => {
    const ctx = await gpu();
    const random = rng(seed + 3);
    const lengths = [3, 1000, 9000];
    const p0 = randomList(random, lengths);
    const g = randomList(random, lengths);
    const [tp, tg] = [upload(ctx, p0), upload(ctx, g)];
    const maxNorm = 2;
    const clip = gradNorm(ctx, tg, maxNorm);
    sgdStep(ctx, tp, tg, 0.5, clip);
    const wantClip = gradNormRef(g, maxNorm);
    const want = sgdStepRef(p0, g, 0.5, wantClip);
    // The sgdStep bound, plus the factor's own relative error (see above) carried by the step.
    const factorRel = gamma(depth(4)) / 2 + 16 * U;
    const bound = (t: number, i: number) =>
      U * Math.abs(want[t][i]) + (4 * U + factorRel) * Math.abs(0.5 * wantClip[1] * g[t][i]) + TINY;
    expect(listMismatches(await readAll(ctx, tp), want, bound)).toEqual([]);
    releaseAll(tp, tg, [clip]);
  });
});

describe(`parameter-list ops vs float64 reference (seed ${seed})`, () => {
  it('copyInto copies exactly; fill writes f32, u32 and i32 values', async () => {
    const ctx = await gpu();
    const random = rng(seed + 4);
    const src = randomList(random);
    const [ts, td] = [upload(ctx, src), upload(ctx, randomList(random))];
    copyInto(ctx, td, ts);
    // Exact: compared by hand, as deep equality of multi-million-element arrays takes vitest many seconds.
    expect(listMismatches(await readAll(ctx, td), src, () => 0)).toEqual([]);
    fill(ctx, td, -0.3);
    expect(
      listMismatches(
        await readAll(ctx, td),
        LENGTHS.map((n) => new Float32Array(n).fill(-0.3)),
        () => 0,
      ),
    ).toEqual([]);
    const [tu, ti] = [ctx.tensor([1001], 'u32'), ctx.tensor([7], 'i32')];
    fill(ctx, [tu], 4_000_000_000);
    fill(ctx, [ti], -5);
    expect((await ctx.read(tu)).every((x) => x === 4_000_000_000)).toBe(true);
    expect([...(await ctx.read(ti))]).toEqual(Array(7).fill(-5));
    releaseAll(ts, td, [tu, ti]);
  });

  it('axpy and scale', async () => {
    const ctx = await gpu();
    const random = rng(seed + 5);
    const [y, x] = [randomList(random), randomList(random)];
    const [ty, tx] = [upload(ctx, y), upload(ctx, x)];
    const alpha = -0.7;
    axpy(ctx, ty, tx, alpha);
    const want = axpyRef(y, x, alpha);
    // f32 α and α·x round once each (2u of the term), the sum once (u of the result).
    const axpyBound = (t: number, i: number) => U * Math.abs(want[t][i]) + 2 * U * Math.abs(alpha * x[t][i]) + TINY;
    const got = await readAll(ctx, ty);
    expect(listMismatches(got, want, axpyBound)).toEqual([]);
    scale(ctx, ty, 1 / 3);
    const wantScaled = scaleRef(got, 1 / 3);
    // f32 1/3 and the product: 2u.
    expect(
      listMismatches(await readAll(ctx, ty), wantScaled, (t, i) => 2 * U * Math.abs(wantScaled[t][i]) + TINY),
    ).toEqual([]);
    expect(() => axpy(ctx, ty, ty, 1)).toThrow(/different tensors/);
    releaseAll(ty, tx);
  });

  it('meanInto averages K = 3 task gradients, into a separate list and in place', async () => {
    const ctx = await gpu();
    const random = rng(seed + 6);
    const srcs = [randomList(random), randomList(random), randomList(random)];
    const want = meanIntoRef(srcs);
    // Two sequential adds (≤ 2u·Σ|x|, then divided by K) and the f32 1/3 with its product (2u).
    const bound = (t: number, i: number) =>
      (2 * U * srcs.reduce((s, a) => s + Math.abs(a[t][i]), 0)) / 3 + 2 * U * Math.abs(want[t][i]) + TINY;
    const ts = srcs.map((s) => upload(ctx, s));
    const dst = LENGTHS.map((n) => ctx.tensor([n]));
    meanInto(ctx, dst, ts);
    expect(listMismatches(await readAll(ctx, dst), want, bound)).toEqual([]);
    meanInto(ctx, ts[0], ts);
    expect(listMismatches(await readAll(ctx, ts[0]), want, bound)).toEqual([]);
    releaseAll(dst, ...ts);
  });

  it('nonFiniteFlag finds NaN, +Inf and −Inf anywhere, and a fresh flag starts clear', async () => {
    const ctx = await gpu();
    const random = rng(seed + 7);
    const finite = randomList(random).map((a) => a.map((x) => x * 3e38)); // huge but finite
    const tf = upload(ctx, finite);
    // The pool hands out the buffer of a raised flag just released: a fresh flag must still start clear.
    const stale = ctx.upload(Uint32Array.of(1), [1], 'u32');
    stale.release();
    const flag = nonFiniteFlag(ctx, tf);
    expect(flag.buffer).toBe(stale.buffer);
    expect([...(await ctx.read(flag))]).toEqual([0]);
    for (const [bad, t, where] of [
      [NaN, 4, BIG - 1],
      [Infinity, 0, 0],
      [-Infinity, 3, 65537],
    ] as const) {
      const a = finite[t].slice();
      a[where] = bad;
      const tb = ctx.upload(a, [a.length]);
      const fresh = nonFiniteFlag(ctx, [...tf.slice(0, t), tb]);
      expect([...(await ctx.read(fresh))], `${bad} in tensor ${t} at ${where}`).not.toEqual([0]);
      fresh.release();
      tb.release();
    }
    // Flags only gain bits: later finite checks into a raised flag keep it raised.
    fill(ctx, [flag], 1);
    nonFiniteFlag(ctx, tf, flag);
    expect([...(await ctx.read(flag))]).toEqual([1]);
    releaseAll(tf, [flag]);
  });
});

describe(`packed parameter lists (seed ${seed})`, () => {
  // A few hundred small tensors in one TensorPack, as an adapter's parameters are: every list op must be one
  // dispatch (a step of the outer optimizer a handful), with the values of the same ops on separate tensors.
  const shapes = Array.from({ length: 240 }, (_, i) => (i % 2 ? [i % 7 === 1 ? 0 : 33, 8] : [8, 57 + (i % 5)]));

  it('one dispatch per op, the same values as separate tensors, padding kept zero', async () => {
    const ctx = await gpu();
    const random = rng(seed + 8);
    const lengths = shapes.map((s) => s[0] * s[1]);
    const [p0, g, m0, v0] = [1, 1, 0.1, 0.01].map((k) =>
      randomList(random, lengths, k).map((a) => (k === 0.01 ? a.map(Math.abs) : a)),
    );
    const packed = [p0, g, m0, v0].map((values) => TensorPack.create(ctx, shapes, { values }).tensors);
    const loose = [p0, g, m0, v0].map((values) => upload(ctx, values));
    // Both steps read one clip factor (the norms themselves differ in the order of the sum).
    const clip = gradNorm(ctx, loose[1], 0.5);
    const step = (p: Tensor<'f32'>[], gr: Tensor<'f32'>[], m: Tensor<'f32'>[], v: Tensor<'f32'>[]) => {
      const norm = gradNorm(ctx, gr, 0.5);
      adamwStep(ctx, p, gr, m, v, { lr: 0.01, step: 3 }, clip);
      sgdStep(ctx, p, gr, 0.1, clip);
      axpy(ctx, m, gr, 0.25);
      scale(ctx, v, 0.5);
      return { norm, flag: nonFiniteFlag(ctx, [...gr, ...p]) };
    };
    ctx.resetStats();
    const got = step(packed[0], packed[1], packed[2], packed[3]);
    // gradNorm 2 (partial sums, finish), AdamW 1, SGD 1, axpy 1, scale 1, the flag's zeroing 1 + 2 checks.
    expect(Object.fromEntries(ctx.stats.byKernel)).toEqual({
      grad_norm_partial: 1,
      grad_norm_finish: 1,
      adamw: 1,
      sgd: 1,
      param_axpy: 1,
      param_scale: 1,
      param_fill: 1,
      param_nonfinite: 2,
    });
    const want = step(loose[0], loose[1], loose[2], loose[3]);
    expect(ctx.stats.dispatches).toBeGreaterThan(240 * 5);
    // Element-wise kernels see the same operands: bit-identical. The norm sums in another order: within γ.
    for (const k of [0, 2, 3])
      expect(listMismatches(await readAll(ctx, packed[k]), await readAll(ctx, loose[k]), () => 0)).toEqual([]);
    const [normPacked, normLoose] = [await ctx.read(got.norm), await ctx.read(want.norm)];
    expect(Math.abs(normPacked[0] - normLoose[0])).toBeLessThanOrEqual(gamma(300) * normLoose[0]);
    expect([...(await ctx.read(got.flag))]).toEqual([0]);
    // Copies: one buffer copy for the whole list.
    ctx.resetStats();
    const copy = TensorPack.like(ctx, packed[0])!.tensors;
    copyInto(ctx, copy, packed[0]);
    expect(ctx.stats.copies).toBe(1);
    expect(listMismatches(await readAll(ctx, copy), await readAll(ctx, packed[0]), () => 0)).toEqual([]);
    // A NaN in one tensor still raises the flag of the whole pack.
    const bad = new Float32Array(lengths[101]).fill(1);
    bad[5] = NaN;
    ctx.writeTensor(copy[101], bad);
    expect([...(await ctx.read(nonFiniteFlag(ctx, copy)))]).not.toEqual([0]);
    releaseAll(...packed, ...loose, copy, [clip, got.norm, got.flag, want.norm, want.flag]);
  });

  it('a subset laid out contiguously is one span; lists that do not pair up fall back to per-tensor dispatches', async () => {
    const ctx = await gpu();
    // Odd tensors first (as MTL-LoRA puts each task's tensors together), so the odd subset is one span.
    const order = [...shapes.keys()].sort((a, b) => (b % 2) - (a % 2) || a - b);
    const [p, gr] = [0, 1].map(() => TensorPack.create(ctx, shapes, { order }).tensors);
    const odd = (list: Tensor<'f32'>[]) => list.filter((_, i) => i % 2);
    ctx.resetStats();
    sgdStep(ctx, odd(p), odd(gr), 0.1);
    expect(ctx.stats.dispatches).toBe(1);
    const loose = upload(
      ctx,
      shapes.map((s) => new Float32Array(s[0] * s[1])),
    );
    ctx.resetStats();
    sgdStep(ctx, p, loose, 0.1);
    expect(ctx.stats.dispatches).toBe(shapes.filter((s) => s[0] * s[1] > 0).length);
    releaseAll(p, gr, loose);
  });
});
