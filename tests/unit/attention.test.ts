// Causal grouped-query attention with padding against the float64 reference: forward (o and lse), the
// reference itself against llama-style masked softmax, the backward against finite differences and against
// the analytic reference backward, at shapes from tiny to SmolLM2-like, for every variant ('blocked' and
// 'flash', forced through the op's option); and flash's fallback where its tiles do not fit.
//
// Tolerances are derived per element, not tuned (u = 2⁻²⁴, γ_n = n·u/(1 − n·u)):
// - a score s_ij = scale·q_i·k_j is off by at most E_i = γ_{hd+1}·max_j scale·Σ_d|q_id||k_jd| (dot product
//   plus the scale multiply); shifting the scores of a row by at most E moves each softmax weight by a
//   relative 2E, so |Δo_id| ≤ ρ_i·Σ_j P_ij|v_jd| with ρ_i = 2E_i + (4n + 4X + 16)·u, where n = i + 1 keys and
//   the (4n + 4X + 16)·u covers the n-term sums of l and of the output, one rescale per block of four keys,
//   WGSL's exp accuracy (3 + 2|x| ulp, |x| ≤ X, the spread of the row's scores) and the final division;
// - lse is off by at most E_i + (2n + 2X + 16)·u·(1 + |lse|) + 2⁻²¹ (WGSL's absolute log accuracy near 1);
// - backward: P is recomputed from the saved lse with relative error π_i = E_i + δlse_i + (4 + 3X)·u,
//   dP_ij and D_i are hd-term dot products (γ_hd times their absolute sums, plus the error of o for D), and
//   dS, dq, dk, dv sum these through their own n-term sums (γ_{n+2}). The whole first-order bound is doubled
//   to cover second-order terms.
// Any indexing bug (a wrong key, head, mask or position) moves results by about Σ_j P_ij|v_j|/n, orders of
// magnitude above these bounds at these sizes; the errors found here are typically 10–100× below them.

import { describe, expect, it } from 'vitest';
import {
  ATTENTION_VARIANTS,
  type AttentionDims,
  attentionProbe,
  type AttentionVariant,
  attention,
  attentionBackward,
} from '../../src/ops/attention';
import { flashTiles, flashWorkgroupBytes } from '../../src/ops/attentionFlash';
import { tuneKernels } from '../../src/ops/tuning';
import { attentionBackwardRef, attentionLlamaRef, attentionRef } from '../../src/reference/attention';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { dot, numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);

interface Case {
  name: string;
  dims: AttentionDims;
  lengths: number[];
  /** Only this variant (a case about its structure); every variant when absent. */
  only?: AttentionVariant;
}

const CASES: Case[] = [
  { name: 'tiny', dims: { B: 1, S: 1, H: 1, KV: 1, hd: 4 }, lengths: [1] },
  { name: 'awkward', dims: { B: 2, S: 13, H: 6, KV: 2, hd: 12 }, lengths: [13, 7] },
  { name: 'stories260K-like', dims: { B: 2, S: 33, H: 8, KV: 4, hd: 8 }, lengths: [33, 19] },
  { name: 'SmolLM2-like', dims: { B: 1, S: 70, H: 9, KV: 3, hd: 64 }, lengths: [70] },
  // Lengths 1 and 0 (fully padded), hd not a multiple of 4 (chunks straddle heads and rows), explicit scale.
  { name: 'short and empty sequences, hd=6', dims: { B: 3, S: 9, H: 4, KV: 1, hd: 6, scale: 0.7 }, lengths: [1, 9, 0] },
  // Flash's smallest tiles (8 or 4 rows, streamed tiles half the owned rows, 4 vec4 chunks per invocation).
  { name: 'large head, hd=202', dims: { B: 2, S: 11, H: 2, KV: 1, hd: 202 }, lengths: [11, 6], only: 'flash' },
];

const seed = freshSeed();

/** Random inputs; padding rows hold NaN (or finite garbage) to show that nothing reads them. */
function inputs(c: Case, salt: number, padding: 'nan' | 'finite' = 'nan') {
  const { B, S, H, KV, hd } = c.dims;
  const random = rng(seed + salt);
  const pad = (x: Float32Array, width: number) => {
    if (padding === 'finite') return x;
    for (let b = 0; b < B; b++) x.fill(NaN, (b * S + c.lengths[b]) * width, (b + 1) * S * width);
    return x;
  };
  return {
    q: pad(randomF32(B * S * H * hd, random), H * hd),
    k: pad(randomF32(B * S * KV * hd, random), KV * hd),
    v: pad(randomF32(B * S * KV * hd, random), KV * hd),
    dO: pad(randomF32(B * S * H * hd, random), H * hd),
    lengths: Uint32Array.from(c.lengths),
  };
}

/** Visits every valid (b, h, i) row with its index helpers, as the reference lays the tensors out. */
function forRows(
  d: AttentionDims,
  lengths: ArrayLike<number>,
  fn: (qi: number, kvAt: (j: number) => number, li: number, n: number, b: number, h: number, i: number) => void,
) {
  const group = d.H / d.KV;
  for (let b = 0; b < d.B; b++) {
    for (let h = 0; h < d.H; h++) {
      for (let i = 0; i < Math.min(lengths[b], d.S); i++) {
        const kvAt = (j: number) => ((b * d.S + j) * d.KV + Math.floor(h / group)) * d.hd;
        fn(((b * d.S + i) * d.H + h) * d.hd, kvAt, (b * d.H + h) * d.S + i, i + 1, b, h, i);
      }
    }
  }
}

const absDot = (x: ArrayLike<number>, xi: number, y: ArrayLike<number>, yi: number, n: number) => {
  let s = 0;
  for (let t = 0; t < n; t++) s += Math.abs(x[xi + t] * y[yi + t]);
  return s;
};

/** Per-row score error E, exp-argument spread X and forward bounds for o and lse (see the header). */
function forwardBounds(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  lengths: Uint32Array,
  d: AttentionDims,
  lse: Float64Array,
) {
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const o = new Float64Array(q.length);
  const lseBound = new Float64Array(lse.length);
  const E = new Float64Array(lse.length);
  const X = new Float64Array(lse.length);
  forRows(d, lengths, (qi, kvAt, li, n) => {
    let amax = 0;
    let spread = 0;
    for (let j = 0; j < n; j++) {
      amax = Math.max(amax, scale * absDot(q, qi, k, kvAt(j), d.hd));
      let s = 0;
      for (let t = 0; t < d.hd; t++) s += q[qi + t] * k[kvAt(j) + t];
      spread = Math.max(spread, Math.abs(scale * s - lse[li]));
    }
    E[li] = gamma(d.hd + 1) * amax;
    X[li] = spread + Math.log(n) + 1;
    const rho = 2 * E[li] + (4 * n + 4 * X[li] + 16) * U;
    lseBound[li] = E[li] + (2 * n + 2 * X[li] + 16) * U * (1 + Math.abs(lse[li])) + 2 ** -21;
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d.hd; t++) s += q[qi + t] * k[kvAt(j) + t];
      const p = Math.exp(scale * s - lse[li]);
      for (let t = 0; t < d.hd; t++) o[qi + t] += 2 * rho * p * Math.abs(v[kvAt(j) + t]);
    }
  });
  return { o, lse: lseBound, E, X };
}

/**
 * Bounds for dq, dk, dv (see the header). oErr/lseErr: how far the o and lse given to the backward are from
 * the exact forward (their f32 rounding, or the GPU forward's bounds when the backward gets the GPU's own).
 */
function backwardBounds(
  x: ReturnType<typeof inputs>,
  d: AttentionDims,
  o: Float64Array,
  lse: Float64Array,
  fwd: ReturnType<typeof forwardBounds>,
  oErr: ArrayLike<number>,
  lseErr: ArrayLike<number>,
) {
  const { q, k, v, dO, lengths } = x;
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  // Keys of sequence b are summed over (group size)·(length − j) query rows: bounded by H·length.
  const sums = (b: number) => d.H * Math.min(lengths[b], d.S) + 2;
  forRows(d, lengths, (qi, kvAt, li, n, b) => {
    let D = 0;
    let Derr = gamma(d.hd) * absDot(dO, qi, o, qi, d.hd);
    for (let t = 0; t < d.hd; t++) {
      D += dO[qi + t] * o[qi + t];
      Derr += Math.abs(dO[qi + t]) * oErr[qi + t];
    }
    const pi = fwd.E[li] + lseErr[li] + (4 + 3 * fwd.X[li]) * U;
    for (let j = 0; j <= n - 1; j++) {
      const kj = kvAt(j);
      let s = 0;
      let dp = 0;
      for (let t = 0; t < d.hd; t++) {
        s += q[qi + t] * k[kj + t];
        dp += dO[qi + t] * v[kj + t];
      }
      const p = Math.exp(scale * s - lse[li]);
      const ds = Math.abs(p * (dp - D));
      const dsErr = p * ((pi + 2 * U) * Math.abs(dp - D) + gamma(d.hd) * absDot(dO, qi, v, kj, d.hd) + Derr);
      for (let t = 0; t < d.hd; t++) {
        dq[qi + t] += 2 * scale * (dsErr + gamma(n + 2) * ds) * Math.abs(k[kj + t]);
        dk[kj + t] += 2 * scale * (dsErr + gamma(sums(b)) * ds) * Math.abs(q[qi + t]);
        dv[kj + t] += 2 * p * (pi + gamma(sums(b))) * Math.abs(dO[qi + t]);
      }
    }
  });
  return { dq, dk, dv };
}

const f32Err = (x: ArrayLike<number>) => Float64Array.from(x, (y) => U * Math.abs(y));
const TINY = 1e-30; // exact zeros (padding rows) must match exactly; nothing else is that small

async function runForward(c: Case, x: ReturnType<typeof inputs>, variant: AttentionVariant) {
  const ctx = await gpu();
  const { B, S, H, KV, hd } = c.dims;
  const t = {
    q: ctx.upload(x.q, [B * S, H * hd]),
    k: ctx.upload(x.k, [B * S, KV * hd]),
    v: ctx.upload(x.v, [B * S, KV * hd]),
    lengths: ctx.upload(x.lengths, [B], 'u32'),
  };
  const { o, lse } = attention(ctx, t.q, t.k, t.v, t.lengths, c.dims, { variant });
  return { ctx, t, o, lse };
}

/** The fixed part of a case's test name. */
const shape = (c: Case) => `B=${c.dims.B} S=${c.dims.S} H=${c.dims.H} KV=${c.dims.KV} hd=${c.dims.hd}`;

/** Computes `f` once, on first use (float64 work shared by every variant's test). */
function once<T>(f: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= f());
}

describe.each(ATTENTION_VARIANTS)(`attention forward vs float64 reference, %s (seed ${seed})`, (variant) => {
  CASES.forEach((c, n) => {
    if (c.only && c.only !== variant) return;
    it(`${c.name}: ${shape(c)} lengths=${c.lengths}`, async () => {
      const x = inputs(c, n);
      const { ctx, t, o, lse } = await runForward(c, x, variant);
      const got = { o: await ctx.read(o), lse: await ctx.read(lse) };
      const want = attentionRef(x.q, x.k, x.v, x.lengths, c.dims);
      const bound = forwardBounds(x.q, x.k, x.v, x.lengths, c.dims, want.lse);
      // Bounds from the header; padding rows must be exactly 0 although their inputs are NaN.
      expect(mismatches(got.o, want.o, (i) => bound.o[i] + TINY)).toEqual([]);
      expect(mismatches(got.lse, want.lse, (i) => bound.lse[i] + TINY)).toEqual([]);
      [...Object.values(t), o, lse].forEach((y) => y.release());
    });
  });

  it('the reference and the GPU agree with llama-style masked softmax over the full score matrix', async () => {
    // Finite padding: the llama-style computation multiplies masked entries by 0, which NaN would poison.
    for (const c of [CASES[1], CASES[4]]) {
      const x = inputs(c, 100, 'finite');
      const want = attentionLlamaRef(x.q, x.k, x.v, x.lengths, c.dims);
      const ref = attentionRef(x.q, x.k, x.v, x.lengths, c.dims);
      // Two float64 evaluations of the same sums in different orders: a few hundred ulps of 1 at most.
      expect(mismatches(ref.o, want, () => 1e-13)).toEqual([]);
      const { ctx, t, o, lse } = await runForward(c, x, variant);
      const bound = forwardBounds(x.q, x.k, x.v, x.lengths, c.dims, ref.lse);
      // The GPU bound plus the 1e-13 above.
      expect(mismatches(await ctx.read(o), want, (i) => bound.o[i] + 1e-13)).toEqual([]);
      [...Object.values(t), o, lse].forEach((y) => y.release());
    }
  });
});

const SMALL: Case[] = [
  { name: 'GQA with a padded sequence', dims: { B: 2, S: 6, H: 4, KV: 2, hd: 4 }, lengths: [6, 3] },
  { name: 'length 1 and hd=5', dims: { B: 2, S: 5, H: 3, KV: 1, hd: 5, scale: 0.9 }, lengths: [1, 5] },
];
const slices = (g: Record<'dq' | 'dk' | 'dv', Float32Array | Float64Array>) => [...g.dq, ...g.dk, ...g.dv];

/** Finite differences of the reference forward for a SMALL case, and the analytic reference's gradients. */
const finiteDifferences = SMALL.map((c, n) =>
  once(() => {
    const x = inputs(c, 200 + n, 'finite');
    const { q, k, v, dO: w, lengths } = x;
    const [nq, nk] = [q.length, k.length];
    // L(q, k, v) = Σ w ⊙ o: a random projection, so dL/do = w plays the role of dO.
    const loss = (z: Float64Array) =>
      dot(w, attentionRef(z.subarray(0, nq), z.subarray(nq, nq + nk), z.subarray(nq + nk), lengths, c.dims).o);
    const fd = numericGrad(loss, [...q, ...k, ...v]);
    const ref = attentionRef(q, k, v, lengths, c.dims);
    const analytic = attentionBackwardRef(q, k, v, ref.o, ref.lse, w, lengths, c.dims);
    return { x, fd, ref, analytic };
  }),
);

describe.each(ATTENTION_VARIANTS)(`attention backward, %s (seed ${seed})`, (variant) => {
  SMALL.forEach((c, n) => {
    it(`matches finite differences of the reference forward: ${c.name}`, async () => {
      const { x, fd, ref, analytic } = finiteDifferences[n]();
      const { q, k, v, dO: w, lengths } = x;
      // The analytic reference: float64 central differences with h = 1e-6 are good to ~1e-9 here.
      expect(mismatches(slices(analytic), fd, () => 1e-7)).toEqual([]);

      // The GPU backward fed by the GPU forward, end to end as in training: the backward bound with the
      // forward's bounds as the error of o and lse, plus the finite-difference error.
      const { ctx, t, o, lse } = await runForward(c, x, variant);
      const tdO = ctx.upload(w, [c.dims.B * c.dims.S, c.dims.H * c.dims.hd]);
      const g = attentionBackward(ctx, t.q, t.k, t.v, o, lse, tdO, t.lengths, c.dims, { variant });
      const got = slices({ dq: await ctx.read(g.dq), dk: await ctx.read(g.dk), dv: await ctx.read(g.dv) });
      const fwd = forwardBounds(q, k, v, lengths, c.dims, ref.lse);
      const b = slices(backwardBounds(x, c.dims, ref.o, ref.lse, fwd, fwd.o, fwd.lse));
      expect(mismatches(got, fd, (i) => b[i] + 1e-7)).toEqual([]);
      [...Object.values(t), o, lse, tdO, g.dq, g.dk, g.dv].forEach((y) => y.release());
    });
  });

  CASES.forEach((c, n) => {
    if (c.only && c.only !== variant) return;
    it(`matches the analytic reference: ${c.name} ${shape(c)}`, async () => {
      const ctx = await gpu();
      const { B, S, H, KV, hd } = c.dims;
      const x = inputs(c, 300 + n);
      const ref = attentionRef(x.q, x.k, x.v, x.lengths, c.dims);
      const want = attentionBackwardRef(x.q, x.k, x.v, ref.o, ref.lse, x.dO, x.lengths, c.dims);
      // The backward kernels alone: o and lse are the exact forward rounded to f32.
      const t = [
        ctx.upload(x.q, [B * S, H * hd]),
        ctx.upload(x.k, [B * S, KV * hd]),
        ctx.upload(x.v, [B * S, KV * hd]),
        ctx.upload(Float32Array.from(ref.o), [B * S, H * hd]),
        ctx.upload(Float32Array.from(ref.lse), [B, H, S]),
        ctx.upload(x.dO, [B * S, H * hd]),
      ] as const;
      const tl = ctx.upload(x.lengths, [B], 'u32');
      const g = attentionBackward(ctx, ...t, tl, c.dims, { variant });
      const fwd = forwardBounds(x.q, x.k, x.v, x.lengths, c.dims, ref.lse);
      const bound = backwardBounds(x, c.dims, ref.o, ref.lse, fwd, f32Err(ref.o), f32Err(ref.lse));
      // Bounds from the header; padding rows exactly 0 although their q, k, v and dO are NaN.
      expect(mismatches(await ctx.read(g.dq), want.dq, (i) => bound.dq[i] + TINY)).toEqual([]);
      expect(mismatches(await ctx.read(g.dk), want.dk, (i) => bound.dk[i] + TINY)).toEqual([]);
      expect(mismatches(await ctx.read(g.dv), want.dv, (i) => bound.dv[i] + TINY)).toEqual([]);
      [...t, tl, g.dq, g.dk, g.dv].forEach((y) => y.release());
    });
  });
});

describe('attention arguments', () => {
  it('rejects inconsistent shapes with a clear message', async () => {
    const ctx = await gpu();
    const dims = { B: 1, S: 4, H: 6, KV: 4, hd: 8 };
    const q = ctx.tensor([4, 48]);
    const kv = ctx.tensor([4, 32]);
    const lengths = ctx.tensor([1], 'u32');
    expect(() => attention(ctx, q, kv, kv, lengths, dims)).toThrow(/6 query heads are not a multiple of 4 KV heads/);
    expect(() => attention(ctx, q, kv, kv, lengths, { ...dims, KV: 3 })).toThrow(/k has 128 elements, expected 96/);
    expect(() => attention(ctx, q, kv, kv, lengths, { ...dims, H: 1, KV: 1, hd: 512, S: 1 })).toThrow(/exceeds/);
    [q, kv, lengths].forEach((y) => y.release());
  });
});

describe('attention variants', () => {
  it('flash has tiles within 16 KiB of workgroup memory for every head dimension up to 256', () => {
    for (let hd = 1; hd <= 256; hd++) {
      for (const kernel of ['fwd', 'dq', 'dkdv'] as const) {
        const t = flashTiles(kernel, hd, 16384);
        expect(t, `${kernel} hd=${hd}`).toBeDefined();
        expect(flashWorkgroupBytes(kernel, hd, t!)).toBeLessThanOrEqual(16384);
        expect(Math.ceil(Math.ceil(hd / 4) / t!.lanes)).toBeLessThanOrEqual(4); // MAX_CHUNKS in the shaders
      }
    }
    expect(flashTiles('fwd', 64, 16384)).toEqual({ own: 16, tile: 16, lanes: 8 });
  });

  it('runs blocked on CPU adapters, flash when chosen, and falls back to blocked where flash tiles do not fit', async () => {
    const ctx = await gpu();
    const c = CASES[1];
    const x = inputs(c, 400);
    const kernelsRun = async () => {
      ctx.resetStats();
      const { t, o, lse } = await runForward(c, x, undefined as unknown as AttentionVariant);
      const tdO = ctx.upload(x.dO, [c.dims.B * c.dims.S, c.dims.H * c.dims.hd]);
      const g = attentionBackward(ctx, t.q, t.k, t.v, o, lse, tdO, t.lengths, c.dims);
      const out = [await ctx.read(o), await ctx.read(g.dq), await ctx.read(g.dk), await ctx.read(g.dv)];
      [...Object.values(t), o, lse, tdO, g.dq, g.dk, g.dv].forEach((y) => y.release());
      // One dispatch per kernel: the forward, then stats, dQ and dK/dV.
      expect([...ctx.stats.byKernel.values()]).toEqual([1, 1, 1, 1]);
      return { kernels: [...ctx.stats.byKernel.keys()].sort(), out };
    };
    const blocked = ['attention_bwd_dkdv', 'attention_bwd_dq', 'attention_bwd_stats', 'attention_fwd'];
    const flash = ['attention_bwd_stats', 'attention_flash_dkdv', 'attention_flash_dq', 'attention_flash_fwd'];
    const limits = ctx.info.limits;
    const storage = limits.maxComputeWorkgroupStorageSize;
    try {
      const byDefault = await kernelsRun();
      expect(byDefault.kernels).toEqual(blocked); // SwiftShader is a CPU adapter
      ctx.kernels.force('attention', 'flash');
      expect((await kernelsRun()).kernels).toEqual(flash);
      limits.maxComputeWorkgroupStorageSize = 256; // no flash tile fits hd 12 in 256 bytes
      const fallback = await kernelsRun();
      expect(fallback.kernels).toEqual(blocked);
      expect(fallback.out).toEqual(byDefault.out);
    } finally {
      limits.maxComputeWorkgroupStorageSize = storage;
      ctx.kernels.force('attention', undefined);
    }
  });

  it("the tuner's probe runs both variants, their outputs agree, and the faster is adopted", async () => {
    const ctx = await gpu();
    try {
      const choice = (await tuneKernels(ctx, [attentionProbe], { minMs: 1 })).attention;
      expect(choice.rejected).toBeUndefined();
      expect(Object.keys(choice.ms).sort()).toEqual(['blocked', 'flash']);
      expect(choice.ms[choice.variant]).toBe(Math.min(...Object.values(choice.ms)));
      expect(ctx.kernels.variant('attention', 'none')).toBe(choice.variant);
    } finally {
      ctx.kernels.clear();
    }
  });
});
