// Attention against a KV cache and the row copy that fills the cache, against the float64 references, at
// awkward sizes: prefill (n > 1 from position 0), single-token decode deep into the cache, hd not a
// multiple of 4, SmolLM2-like heads. Cache rows past the last position hold NaN to show nothing reads them.
// Every variant of the family ('serial', 'split' = flash-decoding) runs every case, forced; caches of more
// than 64 rows give 'split' several splits (some empty when the position is early), smaller ones its
// one-dispatch path.
//
// Tolerance, derived as in attention.test.ts (u = 2⁻²⁴, γ_n = n·u/(1 − n·u)): a score is off by at most
// E_i = γ_{hd+1}·max_j scale·Σ_d|q_id||k_jd|; shifting a row's scores by E moves each softmax weight by a
// relative 2E, so |Δo_id| ≤ ρ_i·Σ_j P_ij|v_jd| with ρ_i = 2E_i + (6n + 4X + 16)·u: n keys each cost a
// rescale, an add and two exps (3 + 2|x| ulp for |x| ≤ X, the row's score spread) in l and in the output,
// plus the final division. Doubled for second-order terms. A wrong key, head or position moves results by
// about Σ_j P_ij|v_j|/n, far above this.

import { describe, expect, it, vi } from 'vitest';
import {
  ATTENTION_DECODE_VARIANTS,
  attentionDecode,
  attentionDecodeProbe,
  attentionDecodeVariant,
  contiguousPlaces,
  type DecodeDims,
} from '../../src/ops/attentionDecode';
import { copyRows, gatherRows, scatterRows } from '../../src/ops/copyRows';
import { tuneKernels } from '../../src/ops/tuning';
import { attentionRef } from '../../src/reference/attention';
import { attentionDecodeRef, copyRowsRef, gatherRowsRef, scatterRowsRef } from '../../src/reference/attentionDecode';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const seed = freshSeed();

/** `places`: each query's (first cache row of its sequence, position); the cache has `rows` rows. */
interface Case {
  name: string;
  dims: DecodeDims;
  places: Uint32Array;
  rows: number;
}

const single = (name: string, dims: DecodeDims, pos0: number, rows: number): Case => ({
  name,
  dims,
  places: contiguousPlaces(dims.n, pos0),
  rows,
});
/** Queries of a cache of sequences of `maxTokens` rows each: [sequence, position] per query. */
const batched = (
  name: string,
  dims: Omit<DecodeDims, 'n'>,
  maxTokens: number,
  sequences: number,
  queries: [number, number][],
): Case => ({
  name,
  dims: { ...dims, n: queries.length },
  places: Uint32Array.from(queries.flatMap(([s, p]) => [s * maxTokens, p])),
  rows: sequences * maxTokens,
});

const CASES: Case[] = [
  single('prefill of 13 tokens, GQA 6/2, hd=12', { n: 13, H: 6, KV: 2, hd: 12 }, 0, 20),
  single('one token at position 37, stories260K heads', { n: 1, H: 8, KV: 4, hd: 8 }, 37, 50),
  single('3 tokens from position 5, hd=6, scale 0.7', { n: 3, H: 4, KV: 1, hd: 6, scale: 0.7 }, 5, 9),
  single('one token at position 69, SmolLM2 heads', { n: 1, H: 9, KV: 3, hd: 64 }, 69, 70),
  single('one token at position 300 of 333 rows, hd=36', { n: 1, H: 4, KV: 2, hd: 36 }, 300, 333),
  single('one token at position 70 of 500 rows (empty splits), hd=7', { n: 1, H: 2, KV: 1, hd: 7 }, 70, 500),
  single('8 tokens from position 190, hd=256', { n: 8, H: 2, KV: 1, hd: 256 }, 190, 200),
  single(
    '4 tokens from position 380 of 400 rows, 32 heads (2 splits of 3 tiles), hd=5',
    { n: 4, H: 32, KV: 8, hd: 5 },
    380,
    400,
  ),
  single('prefill of 150 tokens, GQA 4/2, hd=18', { n: 150, H: 4, KV: 2, hd: 18 }, 0, 160),
  batched('3 sequences of 11 rows, queries interleaved, GQA 6/3, hd=10', { H: 6, KV: 3, hd: 10 }, 11, 3, [
    [2, 4],
    [0, 0],
    [0, 1],
    [1, 10],
    [0, 2],
    [2, 5],
  ]),
  batched('3 sequences of 90 rows (2 splits), GQA 6/2, hd=20', { H: 6, KV: 2, hd: 20 }, 90, 3, [
    [1, 89],
    [0, 64],
    [2, 3],
  ]),
];

function bound(
  q: Float32Array,
  k: Float32Array,
  v: Float32Array,
  places: Uint32Array,
  d: DecodeDims,
): (e: number) => number {
  const scale = d.scale ?? 1 / Math.sqrt(d.hd);
  const per = new Float64Array(d.n * d.H * d.hd);
  for (let i = 0; i < d.n; i++) {
    for (let h = 0; h < d.H; h++) {
      const qi = (i * d.H + h) * d.hd;
      const kvAt = (j: number) => ((places[2 * i] + j) * d.KV + Math.floor(h / (d.H / d.KV))) * d.hd;
      const keys = places[2 * i + 1] + 1;
      const s: number[] = [];
      let E = 0;
      for (let j = 0; j < keys; j++) {
        let dot = 0;
        let abs = 0;
        for (let t = 0; t < d.hd; t++) {
          dot += q[qi + t] * k[kvAt(j) + t];
          abs += Math.abs(q[qi + t] * k[kvAt(j) + t]);
        }
        s.push(scale * dot);
        E = Math.max(E, gamma(d.hd + 1) * scale * abs);
      }
      const m = Math.max(...s);
      const X = m - Math.min(...s);
      const sum = s.reduce((a, x) => a + Math.exp(x - m), 0);
      const rho = 2 * E + (6 * keys + 4 * X + 16) * U;
      for (let t = 0; t < d.hd; t++) {
        let pv = 0;
        for (let j = 0; j < keys; j++) pv += (Math.exp(s[j] - m) / sum) * Math.abs(v[kvAt(j) + t]);
        per[qi + t] = 2 * rho * pv;
      }
    }
  }
  return (e) => per[e];
}

describe.each(ATTENTION_DECODE_VARIANTS)(`attentionDecode %s (seed ${seed})`, (variant) => {
  for (const [c, { name, dims, places, rows }] of CASES.entries()) {
    it(name, async () => {
      const ctx = await gpu();
      ctx.kernels.force('attention_decode', variant);
      const random = rng(seed + c);
      const width = dims.KV * dims.hd;
      const q = randomF32(dims.n * dims.H * dims.hd, random);
      const [k, v] = [0, 1].map(() => unreadAsNaN(randomF32(rows * width, random), places, width));
      const [tq, tk, tv] = [q, k, v].map((x) => ctx.upload(x, [x.length]));
      const tp = ctx.upload(places, [places.length], 'u32');
      const o = attentionDecode(ctx, tq, tk, tv, tp, dims);
      ctx.kernels.force('attention_decode', undefined);
      const got = await ctx.read(o);
      [tq, tk, tv, tp, o].forEach((t) => t.release());
      const want = attentionDecodeRef(q, k, v, places, dims);
      expect(mismatches(got, want, bound(q, k, v, places, dims))).toEqual([]);
    });
  }
});

describe(`attentionDecode (seed ${seed})`, () => {
  it("runs 'serial' on this CPU adapter unless told otherwise; 'split' takes a second dispatch past 64 rows", async () => {
    const ctx = await gpu();
    expect(ctx.info.isSoftware).toBe(true);
    expect(attentionDecodeVariant(ctx)).toBe('serial');
    const dims = { n: 1, H: 2, KV: 1, hd: 8 };
    const q = ctx.tensor([1, 16]);
    const places = ctx.upload(contiguousPlaces(1, 5), [2], 'u32');
    const dispatches = (rows: number) => {
      const cache = ctx.tensor([rows, 8]);
      ctx.resetStats();
      attentionDecode(ctx, q, cache, cache, places, dims).release();
      cache.release();
      return Object.fromEntries(ctx.stats.byKernel);
    };
    expect(dispatches(65)).toEqual({ attention_decode: 1 });
    ctx.kernels.force('attention_decode', 'split');
    expect(dispatches(64)).toEqual({ attention_decode_split: 1 });
    expect(dispatches(65)).toEqual({ attention_decode_split: 1, 'attention_decode_split:combine': 1 });
    ctx.kernels.force('attention_decode', undefined);
    [q, places].forEach((t) => t.release());
  });

  it("'split' gives way to 'serial' when the queries exceed the grid's limit per dimension", async () => {
    const ctx = await gpu();
    const small: Record<string, number> = {};
    for (const name in ctx.device.limits) small[name] = ctx.device.limits[name as keyof GPUSupportedLimits] as number;
    small.maxComputeWorkgroupsPerDimension = 2;
    const spy = vi.spyOn(ctx.device, 'limits', 'get').mockReturnValue(small as unknown as GPUSupportedLimits);
    const dims = { n: 3, H: 2, KV: 1, hd: 4 };
    const [q, cache] = [ctx.tensor([3, 8]), ctx.tensor([100, 4])];
    const places = ctx.upload(contiguousPlaces(3, 0), [6], 'u32');
    ctx.kernels.force('attention_decode', 'split');
    try {
      ctx.resetStats();
      attentionDecode(ctx, q, cache, cache, places, dims).release();
      expect(Object.fromEntries(ctx.stats.byKernel)).toEqual({ attention_decode: 1 });
    } finally {
      ctx.kernels.force('attention_decode', undefined);
      spy.mockRestore();
      [q, cache, places].forEach((t) => t.release());
    }
  });

  it("the tuner's probe: 'split' agrees with 'serial' on it and both get a time", async () => {
    const ctx = await gpu();
    try {
      const { attention_decode: choice } = await tuneKernels(ctx, [attentionDecodeProbe], { minMs: 1 });
      expect(Object.keys(choice.ms).sort()).toEqual([...ATTENTION_DECODE_VARIANTS].sort());
      expect(choice.rejected).toBeUndefined();
    } finally {
      ctx.kernels.clear(); // the tuner adopted its choice: back to the defaults
    }
  });

  it('the reference agrees with full causal attention when the cache is the whole sequence', () => {
    const random = rng(seed + 100);
    const dims = { n: 11, H: 6, KV: 3, hd: 10 };
    const [q, k, v] = [dims.H, dims.KV, dims.KV].map((h) => randomF32(dims.n * h * dims.hd, random));
    const full = attentionRef(q, k, v, [dims.n], { B: 1, S: dims.n, H: dims.H, KV: dims.KV, hd: dims.hd }).o;
    const cached = attentionDecodeRef(q, k, v, contiguousPlaces(dims.n, 0), dims);
    expect(Math.max(...cached.map((x, i) => Math.abs(x - full[i])))).toBeLessThan(1e-12);
  });

  it('rejects places that are not one pair per query and mismatched shapes', async () => {
    const ctx = await gpu();
    const q = ctx.tensor([1, 8]);
    const cache = ctx.tensor([4, 8]);
    const places = ctx.upload(contiguousPlaces(1, 3), [2], 'u32');
    const dims = { n: 1, H: 2, KV: 2, hd: 4 };
    expect(() => attentionDecode(ctx, q, cache, cache, places, { ...dims, n: 2 })).toThrow(
      /places has 2 entries, expected 2 per query \(4\)/,
    );
    expect(() => attentionDecode(ctx, q, cache, cache, places, { ...dims, H: 3 })).toThrow(/not a multiple/);
    [q, cache, places].forEach((t) => t.release());
  });
});

describe(`copyRows (seed ${seed})`, () => {
  it('copies a block of rows between offsets exactly (width 37)', async () => {
    const ctx = await gpu();
    const random = rng(seed + 200);
    const width = 37;
    const opts = { rows: 5, width, srcRow: 2, dstRow: 9 };
    const src = randomF32(8 * width, random);
    const dst = randomF32(16 * width, random);
    const [ts, td] = [src, dst].map((x) => ctx.upload(x, [x.length]));
    copyRows(ctx, ts, td, opts);
    const got = await ctx.read(td);
    [ts, td].forEach((t) => t.release());
    expect(Array.from(got)).toEqual(Array.from(copyRowsRef(src, dst, opts)));
  });

  it('scatters rows to their places in a cache of several sequences and gathers them back (width 13)', async () => {
    const ctx = await gpu();
    const random = rng(seed + 201);
    const width = 13;
    // Two sequences of 6 rows; rows to (seq 1, pos 2), (seq 0, pos 5), (seq 1, pos 3).
    const places = Uint32Array.from([6, 2, 0, 5, 6, 3]);
    const src = randomF32(3 * width, random);
    const dst = randomF32(12 * width, random);
    const [ts, td] = [src, dst].map((x) => ctx.upload(x, [x.length]));
    const tp = ctx.upload(places, [places.length], 'u32');
    scatterRows(ctx, ts, td, tp, { rows: 3, width });
    const back = gatherRows(ctx, td, ctx.tensor([3, width]), tp, { rows: 3, width });
    const [scattered, gathered] = [await ctx.read(td), await ctx.read(back)];
    [ts, td, tp, back].forEach((t) => t.release());
    expect(Array.from(scattered)).toEqual(Array.from(scatterRowsRef(src, dst, places, { rows: 3, width })));
    expect(Array.from(gathered)).toEqual(
      Array.from(gatherRowsRef(scatterRowsRef(src, dst, places, { rows: 3, width }), places, { rows: 3, width })),
    );
    expect(Array.from(gathered)).toEqual(Array.from(src));
  });

  it('refuses rows past either end', async () => {
    const ctx = await gpu();
    const t = ctx.tensor([4, 3]);
    expect(() => copyRows(ctx, t, t, { rows: 2, width: 3, dstRow: 3 })).toThrow(/past dst's end/);
    expect(() => copyRows(ctx, t, t, { rows: 5, width: 3 })).toThrow(/past src's end/);
    t.release();
  });
});

/** The cache with every row no query reads (past its sequence's last queried position) set to NaN. */
function unreadAsNaN(cache: Float32Array, places: Uint32Array, width: number): Float32Array {
  const read = new Set<number>();
  for (let i = 0; i < places.length; i += 2) for (let j = 0; j <= places[i + 1]; j++) read.add(places[i] + j);
  for (let r = 0; r < cache.length / width; r++) if (!read.has(r)) cache.fill(NaN, r * width, (r + 1) * width);
  return cache;
}
