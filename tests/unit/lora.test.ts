// LoRA branch (forward, backward, split-K token product, dropout) against the float64 reference.
//
// Tolerances are forward-error bounds, not tuned constants. For a float32 chain of products whose longest
// accumulation path has K terms, |got − exact| ≤ γ_K · (the same chain on absolute values), γ_K = K·u/(1−K·u),
// u = 2⁻²⁴; the chain on |inputs| comes from the reference itself. Each accumulate into an existing value
// and each multiplication by alpha adds one rounding, covered by 2u·(|result| + |old value|). A wrong,
// doubled or missing term costs about 1/K of the chain, orders of magnitude above these bounds.

import { describe, expect, it } from 'vitest';
import {
  type GroupedLoraOptions,
  type LoraDims,
  type LoraOptions,
  loraBackward,
  loraForward,
  tokenProduct,
} from '../../src/ops/lora';
import {
  dropoutKeep,
  dropoutRef,
  dropoutThreshold,
  loraBackwardRef,
  loraForwardRef,
  tokenProductRef,
} from '../../src/reference/lora';
import { SplitKReduce } from '../../src/ops/splitK';
import type { Tensor } from '../../src/gpu/tensor';
import { TensorPack } from '../../src/gpu/tensorPack';
import { addBranchDx, addBranchOutput } from '../helpers/branch';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (k: number) => (k * U) / (1 - k * U);
const abs = (a: ArrayLike<number>) => Float64Array.from(a as ArrayLike<number>, Math.abs);
const seed = freshSeed();

/** got ≈ want within γ_K·chain + 2u·(|want| + |old|), elementwise. */
function within(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  chain: ArrayLike<number>,
  K: number,
  old?: ArrayLike<number>,
) {
  return mismatches(
    got,
    want,
    (i) => gamma(K) * chain[i] + 2 * U * (Math.abs(want[i]) + Math.abs(old ? old[i] : 0)) + 1e-30,
  );
}

// [T, in, out, r]: T = 1, 37, 300 (T = 300 takes the split-K path with a short last chunk on every
// adapter), the model's 576×192 and non-multiples of 4 (172), r = 1 (scalar kernels), 8 and 16.
const CASES: [number, number, number, number][] = [
  [1, 64, 64, 1],
  [37, 172, 64, 8],
  [300, 576, 192, 16],
  [300, 64, 64, 8],
  [37, 576, 192, 1],
  [1, 172, 64, 16],
  [300, 172, 64, 1],
];

describe(`LoRA vs float64 reference (seed ${seed})`, () => {
  for (const [T, IN, OUT, r] of CASES) {
    for (const dropout of [0, 0.25]) {
      const o: LoraOptions = { scale: 16 / r, dropout, seed: (seed * 31 + T) >>> 0 };
      const d: LoraDims = { T, in: IN, out: OUT, r };
      it(`forward and backward T=${T} in=${IN} out=${OUT} r=${r} dropout=${dropout}`, async () => {
        const ctx = await gpu();
        const random = rng(seed + T * 7 + IN * 13 + OUT * 17 + r + dropout * 1000);
        const x = randomF32(T * IN, random);
        const A = randomF32(r * IN, random);
        const B = randomF32(OUT * r, random);
        const y0 = randomF32(T * OUT, random);
        const dy = randomF32(T * OUT, random);
        const [dA0, dB0, dx0] = [randomF32(r * IN, random), randomF32(OUT * r, random), randomF32(T * IN, random)];
        const tx = ctx.upload(x, [T, IN]),
          tA = ctx.upload(A, [r, IN]),
          tB = ctx.upload(B, [OUT, r]);
        const ty = ctx.upload(y0, [T, OUT]),
          tdy = ctx.upload(dy, [T, OUT]);
        const tdA = ctx.upload(dA0, [r, IN]),
          tdB = ctx.upload(dB0, [OUT, r]),
          tdx = ctx.upload(dx0, [T, IN]);

        // Forward: h has dot products of length in (plus the dropout scaling: 2 roundings); y adds r more.
        const { h, lowRank } = loraForward(ctx, tx, tA, tB, d, o);
        addBranchOutput(ctx, lowRank, T, OUT, ty);
        const want = loraForwardRef(x, A, B, d, o, y0);
        const chain = loraForwardRef(abs(x), abs(A), abs(B), d, o);
        const gotH = await ctx.read(h);
        expect(within(gotH, want.h, chain.h, IN + 2)).toEqual([]);
        expect(within(await ctx.read(ty), want.y, chain.y, IN + r + 4, y0)).toEqual([]);

        // Backward, accumulating into random existing gradients, from the GPU's own h (as in training).
        // dB: length-T sums (split into chunks, then summed: still ≤ T terms deep) and alpha;
        // dA: dh (length out) then length T; dx: dh then length r, then the mask scaling.
        const part = loraBackward(ctx, tx, h, tdy, tA, tB, d, o, { dA: tdA, dB: tdB, accumulate: true });
        addBranchDx(ctx, part, T, IN, tdx);
        const g = loraBackwardRef(x, gotH, dy, A, B, d, o);
        const gAbs = loraBackwardRef(abs(x), abs(gotH), abs(dy), abs(A), abs(B), d, o);
        const plus = (a: Float64Array, b: Float32Array) => a.map((v, i) => v + b[i]);
        expect(within(await ctx.read(tdB), plus(g.dB, dB0), gAbs.dB, T + 2, dB0)).toEqual([]);
        expect(within(await ctx.read(tdA), plus(g.dA, dA0), gAbs.dA, T + OUT + 4, dA0)).toEqual([]);
        expect(within(await ctx.read(tdx), plus(g.dx, dx0), gAbs.dx, OUT + r + 6, dx0)).toEqual([]);
        [tx, tA, tB, ty, tdy, tdA, tdB, tdx, h].forEach((t) => t.release());
      });
    }
  }

  it('overwrites gradients without accumulate', async () => {
    const ctx = await gpu();
    const random = rng(seed + 5);
    const d: LoraDims = { T: 37, in: 64, out: 64, r: 8 };
    const o: LoraOptions = { scale: 2 };
    const [x, A, B, h, dy] = [d.T * d.in, d.r * d.in, d.out * d.r, d.T * d.r, d.T * d.out].map((n) =>
      randomF32(n, random),
    );
    const t = [x, A, B, h, dy].map((a) => ctx.upload(a, [a.length]));
    const tdA = ctx.upload(randomF32(d.r * d.in, random), [d.r, d.in]);
    const tdB = ctx.upload(randomF32(d.out * d.r, random), [d.out, d.r]);
    const dx = ctx.tensor([d.T, d.in]);
    loraBackward(ctx, t[0], t[3], t[4], t[1], t[2], d, o, { dA: tdA, dB: tdB }).finish(dx);
    dx.release();
    const g = loraBackwardRef(x, h, dy, A, B, d, o);
    const gAbs = loraBackwardRef(abs(x), abs(h), abs(dy), abs(A), abs(B), d, o);
    expect(within(await ctx.read(tdA), g.dA, gAbs.dA, d.T + d.out + 4)).toEqual([]);
    expect(within(await ctx.read(tdB), g.dB, gAbs.dB, d.T + 2)).toEqual([]);
    [...t, tdA, tdB].forEach((v) => v.release());
  });
});

describe(`LoRA over row groups (MeTA-LoRA's K tasks in one batch) vs each group alone (seed ${seed})`, () => {
  // 3 groups of 2 sequences padded to S = 70 (140 rows each: split-K takes 2 chunks per group), whose own
  // batches have S_g = 70, 41, 66: every group must match the float64 reference run on its batch alone,
  // with its own seed, its own copy of A and B (stride > size: the gaps must stay untouched), its own dA
  // copy, and one dB summed over the groups. Padding rows get dy = 0, as in training (targets −1).
  const G = 3,
    Bg = 2,
    S = 70,
    own = [70, 41, 66];
  const d: LoraDims = { T: G * Bg * S, in: 64, out: 48, r: 8 };
  it('forward, per-group dA, summed dB and dx, with dropout', async () => {
    const ctx = await gpu();
    const random = rng(seed + 4242);
    const seeds = [seed >>> 0, (seed + 1) >>> 0, (seed * 7) >>> 0];
    const nA = d.r * d.in,
      nB = d.out * d.r,
      sA = nA + 64,
      sB = nB + 32;
    const o: GroupedLoraOptions = {
      scale: 2,
      dropout: 0.25,
      groups: { seeds, seqLens: own, seq: S },
      strides: { A: sA, B: sB, dA: sA, dB: 0 },
    };
    const real = (row: number) => row % S < own[Math.floor(row / (Bg * S))];
    const x = randomF32(d.T * d.in, random),
      y0 = randomF32(d.T * d.out, random);
    const dy = randomF32(d.T * d.out, random).map((v, i) => (real(Math.floor(i / d.out)) ? v : 0));
    const A = randomF32((G - 1) * sA + nA, random),
      B = randomF32((G - 1) * sB + nB, random);
    const dA0 = randomF32((G - 1) * sA + nA, random),
      dB0 = randomF32(nB, random),
      dx0 = randomF32(d.T * d.in, random);
    const t = {
      x: ctx.upload(x, [x.length]),
      y: ctx.upload(y0, [y0.length]),
      dy: ctx.upload(dy, [dy.length]),
      A: ctx.upload(A, [A.length]),
      B: ctx.upload(B, [B.length]),
      dA: ctx.upload(dA0, [dA0.length]),
      dB: ctx.upload(dB0, [nB]),
      dx: ctx.upload(dx0, [dx0.length]),
    };
    const { h, lowRank } = loraForward(ctx, t.x, t.A, t.B, d, o);
    addBranchOutput(ctx, lowRank, d.T, d.out, t.y);
    const part = loraBackward(ctx, t.x, h, t.dy, t.A, t.B, d, o, { dA: t.dA, dB: t.dB, accumulate: true });
    addBranchDx(ctx, part, d.T, d.in, t.dx);
    const [gotH, gotY, gotDA, gotDB, gotDx] = await Promise.all([h, t.y, t.dA, t.dB, t.dx].map((v) => ctx.read(v)));

    // Group g's batch alone: its sequences' first S_g rows.
    const rowsOf = (g: number) =>
      Array.from({ length: Bg * own[g] }, (_, k) => (g * Bg + Math.floor(k / own[g])) * S + (k % own[g]));
    const take = (a: ArrayLike<number>, rows: number[], cols: number) =>
      Float64Array.from(rows.flatMap((r) => Array.from({ length: cols }, (_, c) => a[r * cols + c])));
    let dBWant = Float64Array.from(dB0),
      dBChain = new Float64Array(nB);
    for (let g = 0; g < G; g++) {
      const rows = rowsOf(g);
      const dg: LoraDims = { ...d, T: rows.length };
      const og: LoraOptions = { scale: 2, dropout: 0.25, seed: seeds[g] };
      const [xg, yg, dyg, hg] = [
        take(x, rows, d.in),
        take(y0, rows, d.out),
        take(dy, rows, d.out),
        take(gotH, rows, d.r),
      ];
      const Ag = A.subarray(g * sA, g * sA + nA),
        Bgm = B.subarray(g * sB, g * sB + nB);
      const want = loraForwardRef(xg, Ag, Bgm, dg, og, yg);
      const chain = loraForwardRef(abs(xg), abs(Ag), abs(Bgm), dg, og);
      expect(within(hg, want.h, chain.h, d.in + 2)).toEqual([]);
      expect(within(take(gotY, rows, d.out), want.y, chain.y, d.in + d.r + 4, yg)).toEqual([]);
      const grad = loraBackwardRef(xg, hg, dyg, Ag, Bgm, dg, og);
      const gAbs = loraBackwardRef(abs(xg), abs(hg), abs(dyg), abs(Ag), abs(Bgm), dg, og);
      const dA0g = dA0.subarray(g * sA, g * sA + nA);
      expect(
        within(
          gotDA.subarray(g * sA, g * sA + nA),
          grad.dA.map((v, i) => v + dA0g[i]),
          gAbs.dA,
          S * Bg + d.out + 4,
          dA0g,
        ),
      ).toEqual([]);
      if (g < G - 1) expect(gotDA.subarray(g * sA + nA, (g + 1) * sA)).toEqual(dA0.subarray(g * sA + nA, (g + 1) * sA));
      const dxg = take(dx0, rows, d.in);
      expect(
        within(
          take(gotDx, rows, d.in),
          grad.dx.map((v, i) => v + dxg[i]),
          gAbs.dx,
          d.out + d.r + 6,
          dxg,
        ),
      ).toEqual([]);
      dBWant = dBWant.map((v, i) => v + grad.dB[i]);
      dBChain = dBChain.map((v, i) => v + gAbs.dB[i]);
    }
    expect(within(gotDB, dBWant, dBChain, d.T + 2, dB0)).toEqual([]);
    [...Object.values(t), h].forEach((v) => v.release());
  });
});

describe(`LoRA token product, split-K and direct (seed ${seed})`, () => {
  // [M, N, T]: vec4 kernel (M, N multiples of 4) and scalar kernel; chunk sizes that split T unevenly,
  // one token per chunk, and a single chunk (direct write). Bound: length-T sums, alpha, accumulation.
  const SHAPES: [number, number, number][] = [
    [8, 576, 300],
    [576, 8, 256],
    [1, 172, 37],
    [16, 16, 300],
    [5, 13, 41],
  ];
  for (const [M, N, T] of SHAPES) {
    for (const chunk of [1, 7, 128, T]) {
      it(`${M}×${N} over T=${T}, ${chunk} tokens per chunk`, async () => {
        const ctx = await gpu();
        const random = rng(seed + M * 3 + N * 5 + T + chunk);
        const X = randomF32(T * M, random),
          Y = randomF32(T * N, random),
          C0 = randomF32(M * N, random);
        const tX = ctx.upload(X, [T, M]),
          tY = ctx.upload(Y, [T, N]),
          tC = ctx.upload(C0, [M, N]);
        tokenProduct(ctx, tX, tY, M, N, T, { alpha: -0.75, accumulate: true, tokensPerChunk: chunk }, tC);
        const want = tokenProductRef(X, Y, M, N, T).map((v, i) => C0[i] - 0.75 * v);
        const chain = tokenProductRef(abs(X), abs(Y), M, N, T).map((v) => 0.75 * v);
        expect(within(await ctx.read(tC), want, chain, T + 2, C0)).toEqual([]);
        [tX, tY, tC].forEach((t) => t.release());
      });
    }
  }
});

describe(`LoRA token products sharing one deferred split-K reduce (seed ${seed})`, () => {
  // Ten products (more than one reduce's 8-job table) into views of one pack at different offsets, some
  // as 3 row groups with their own output copies (a stride with gaps). Each must equal its own float64
  // product and, bit for bit, the undeferred path — also from an arena too small for them (it grows).
  it('reduces every queued product into its own output, two reduce dispatches for ten products', async () => {
    const ctx = await gpu();
    const T = 96;
    const shapes: [number, number, number][] = [
      [8, 20, 1],
      [12, 8, 3],
      [5, 7, 1],
      [4, 16, 3],
      [8, 8, 1],
      [3, 9, 3],
      [16, 4, 1],
      [6, 6, 1],
      [8, 12, 3],
      [7, 5, 1],
    ];
    const random = rng(seed + 11);
    const outShape = ([M, N, g]: [number, number, number]) => [g === 1 ? M * N : g * M * N + 5];
    const values = shapes.map((s) => randomF32(outShape(s)[0], random));
    const outputs = () => TensorPack.create(ctx, shapes.map(outShape), { values }).tensors;
    const [deferred, small, immediate] = [outputs(), outputs(), outputs()];
    const inputs = shapes.map(([M, N]) => [randomF32(T * M, random), randomF32(T * N, random)]);
    const run = (out: Tensor<'f32'>[], reduce?: SplitKReduce) => {
      shapes.forEach(([M, N, g], i) => {
        const [X, Y] = inputs[i].map((v, j) => ctx.upload(v, [T, j ? N : M]));
        const groups = g > 1 ? { groups: g, outStride: M * N + 2 } : {};
        tokenProduct(
          ctx,
          X,
          Y,
          M,
          N,
          T,
          { alpha: 0.5, accumulate: true, tokensPerChunk: 7, ...groups, reduce },
          out[i],
        );
        [X, Y].forEach((t) => t.release());
      });
      reduce?.release();
    };
    ctx.resetStats();
    run(deferred, new SplitKReduce(ctx, 4096));
    expect(ctx.stats.byKernel.get('splitk_reduce')).toBe(2);
    run(small, new SplitKReduce(ctx, 64));
    run(immediate);
    for (const [i, [M, N, g]] of shapes.entries()) {
      const got = await ctx.read(deferred[i]);
      expect(got).toEqual(await ctx.read(immediate[i]));
      expect(await ctx.read(small[i])).toEqual(got);
      const [X, Y] = inputs[i];
      const rows = T / g;
      const want = Float64Array.from(values[i]);
      const chain = new Float64Array(want.length);
      for (let k = 0; k < g; k++) {
        const part = (v: Float32Array, cols: number) => v.subarray(k * rows * cols, (k + 1) * rows * cols);
        const at = g === 1 ? 0 : k * (M * N + 2);
        const p = tokenProductRef(part(X, M), part(Y, N), M, N, rows);
        const c = tokenProductRef(abs(part(X, M)), abs(part(Y, N)), M, N, rows);
        p.forEach((v, j) => (want[at + j] += 0.5 * v));
        c.forEach((v, j) => (chain[at + j] = 0.5 * v));
      }
      expect(within(got, want, chain, rows + 2, values[i])).toEqual([]);
    }
    [...deferred, ...small, ...immediate].forEach((t) => t.release());
  });
});

describe('LoRA dropout mask', () => {
  it('keeps about 1 − p of the elements, independently of position', () => {
    const threshold = dropoutThreshold(0.3);
    let kept = 0;
    for (let t = 0; t < 200; t++) for (let f = 0; f < 200; f++) kept += +dropoutKeep(12345, t, f, threshold);
    // 40000 Bernoulli(0.7) draws: standard deviation ≈ 92, so ±600 is > 6σ.
    expect(Math.abs(kept - 28000)).toBeLessThan(600);
    expect(dropoutRef([1, 1, 1], 1, 3, { scale: 1 })).toEqual(Float64Array.from([1, 1, 1]));
    expect(() => dropoutThreshold(1)).toThrow(/dropout/);
  });
});

describe('LoRA gradients vs finite differences of the float64 forward', () => {
  // Small sizes so every coordinate is differenced. The forward is linear in each single coordinate of x, A
  // and B, so central differences are exact up to float64 cancellation, ≈ 1e-16·|f|/h ≈ 1e-9 here.
  for (const dropout of [0, 0.4]) {
    it(`dA, dB, dx with dropout=${dropout}`, () => {
      const random = rng(seed + 99);
      const d: LoraDims = { T: 4, in: 6, out: 5, r: 3 };
      const o: LoraOptions = { scale: 1.7, dropout, seed: 77 };
      const x = randomF32(d.T * d.in, random),
        A = randomF32(d.r * d.in, random),
        B = randomF32(d.out * d.r, random);
      const w = randomF32(d.T * d.out, random);
      const loss = (xx: ArrayLike<number>, AA: ArrayLike<number>, BB: ArrayLike<number>) =>
        dot(w, loraForwardRef(xx, AA, BB, d, o).y);
      const { h } = loraForwardRef(x, A, B, d, o);
      const g = loraBackwardRef(x, h, w, A, B, d, o);
      const close = (num: Float64Array, ana: Float64Array) =>
        mismatches(num, ana, (i) => 1e-7 * (1 + Math.abs(ana[i])));
      expect(
        close(
          numericGrad((v) => loss(x, v, B), A),
          g.dA,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(x, A, v), B),
          g.dB,
        ),
      ).toEqual([]);
      expect(
        close(
          numericGrad((v) => loss(v, A, B), x),
          g.dx,
        ),
      ).toEqual([]);
    });
  }
});
