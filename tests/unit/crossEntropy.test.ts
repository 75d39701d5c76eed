// Fused softmax cross-entropy (losses, their sum and count, dlogits in place) against the float64
// reference, and the reference gradient against finite differences of the reference loss.
//
// Tolerances (u = 2⁻²⁴), from the kernel's order of operations with M = row max (exact) and x_i = l_i − M:
// - S = Σ exp(x_i): each term carries the rounding of x_i (u·|x_i|) and WGSL's exp error (3 + 2|x| ULP, i.e.
//   ≤ (6 + 4|x|)·u), weighted by its share w_i = exp(x_i)/S; the strided-then-tree sum adds γ_n with
//   n = ⌈V/WG⌉ + log2(WG) for WG invocations per row. So ε_S = Σ w_i·(6 + 5|x_i|)·u + γ_n (relative; all terms are positive);
// - lse = M + log S: log adds 2⁻²¹ absolute near 1 or 3 ULP (6u·log S) elsewhere, the sum u·|lse|:
//   Δlse ≤ ε_S + 2⁻²¹ + 6u·log S + u·|lse|; loss = lse − l_target adds u·|loss|;
// - dlogits_i = g·(exp(l_i − lse) − y_i): p_i inherits Δlse, the rounding of l_i − lse and exp's error, then
//   two roundings: |Δ| ≤ g·(p_i·(Δlse + (6 + 5|l_i − lse|)·u) + 2u·|p_i − y_i|);
// - the total adds a tree sum over T: γ_{⌈T/128⌉+7}·Σ|loss| on top of the rows' own errors; the count is exact.
// Ignored rows must be exactly 0. A wrong target, row or normalisation is off by O(1).

import { describe, expect, it } from 'vitest';
import { crossEntropy } from '../../src/ops/crossEntropy';
import { crossEntropyRef } from '../../src/reference/crossEntropy';
import { mismatches } from '../helpers/compare';
import { gpu } from '../helpers/gpu';
import { numericGrad } from '../helpers/gradcheck';
import { freshSeed, randomF32, rng } from '../helpers/random';

const U = 2 ** -24;
const gamma = (n: number) => (n * U) / (1 - n * U);
const seed = freshSeed();

interface Case {
  name: string;
  T: number;
  V: number;
  /** Logits are amplitude·U(−1, 1) + offset. */
  amplitude: number;
  offset?: number;
  /** Fraction of rows whose target is −1. */
  masked: number;
}

const CASES: Case[] = [
  { name: 'one token, one class', T: 1, V: 1, amplitude: 1, masked: 0 },
  { name: 'one token, stories260K vocab', T: 1, V: 512, amplitude: 4, masked: 0 },
  { name: 'stories260K vocab, prompt rows masked', T: 9, V: 512, amplitude: 8, masked: 0.4 },
  { name: 'vocab smaller than the workgroup', T: 37, V: 13, amplitude: 3, masked: 0.2 },
  { name: 'more rows than the reduction workgroup', T: 300, V: 129, amplitude: 20, masked: 0.3 },
  { name: 'SmolLM2-135M vocab', T: 4, V: 49152, amplitude: 6, masked: 0.25 },
  { name: 'logits offset by 1e4 (max subtraction)', T: 3, V: 32000, amplitude: 10, offset: 1e4, masked: 0 },
  { name: 'every row masked', T: 5, V: 1000, amplitude: 1, masked: 1 },
];

function inputs(c: Case) {
  const random = rng(seed + c.T * 1009 + c.V);
  const logits = randomF32(c.T * c.V, random).map((v) => v * c.amplitude + (c.offset ?? 0));
  const targets = Int32Array.from({ length: c.T }, () => (random() < c.masked ? -1 : Math.floor(random() * c.V)));
  if (c.T > 2 && c.masked > 0 && c.masked < 1) targets[1] = c.V; // out of range: ignored like −1
  return { logits, targets, random };
}

/** Per-row bounds of the header: Δlse and the loss bound, from float64 statistics of the row. */
function rowBounds(logits: ArrayLike<number>, t: number, V: number, loss: number, wg: number) {
  let M = -Infinity;
  for (let i = 0; i < V; i++) M = Math.max(M, logits[t * V + i]);
  let S = 0;
  let weighted = 0;
  for (let i = 0; i < V; i++) {
    const x = logits[t * V + i] - M;
    S += Math.exp(x);
    weighted += Math.exp(x) * (6 + 5 * Math.abs(x)) * U;
  }
  const lse = M + Math.log(S);
  const dLse =
    weighted / S + gamma(Math.ceil(V / wg) + Math.log2(wg)) + 2 ** -21 + 6 * U * Math.log(S) + U * Math.abs(lse);
  return { lse, dLse, dLoss: dLse + U * Math.abs(loss) };
}

// The CPU adapter's workgroup size (16) and the GPUs' (256): both run here, whichever adapter this is.
const WORKGROUP_SIZES = [16, 256];

describe(`crossEntropy vs float64 reference (seed ${seed})`, () => {
  for (const c of CASES)
    for (const workgroupSize of WORKGROUP_SIZES) {
      it(`${c.name}: T=${c.T} V=${c.V} workgroup ${workgroupSize}`, async () => {
        const ctx = await gpu();
        const { T, V } = c;
        const { logits, targets, random } = inputs(c);
        const gradScale = Math.fround(0.5 + random()); // the uniform holds it as f32
        const tl = ctx.upload(logits, [T, V]);
        const tt = ctx.upload(targets, [T], 'i32');
        const { losses, total } = crossEntropy(ctx, tl, tt, { T, V, gradScale, workgroupSize });
        const [gl, gt, gd] = [await ctx.read(losses), await ctx.read(total), await ctx.read(tl)];
        const want = crossEntropyRef(logits, targets, { T, V, gradScale });

        const dLoss = new Float64Array(T);
        const dGrad = new Float64Array(T * V);
        for (let t = 0; t < T; t++) {
          if (!(targets[t] >= 0 && targets[t] < V)) continue; // ignored rows: bound 0, must be exactly 0
          const b = rowBounds(logits, t, V, want.losses[t], workgroupSize);
          dLoss[t] = b.dLoss;
          for (let i = 0; i < V; i++) {
            const x = logits[t * V + i] - b.lse;
            const prob = Math.exp(x);
            dGrad[t * V + i] =
              gradScale *
                (prob * (b.dLse + (6 + 5 * Math.abs(x)) * U) + 2 * U * Math.abs(prob - (i === targets[t] ? 1 : 0))) +
              1e-30;
          }
        }
        expect(mismatches(gl, want.losses, (t) => dLoss[t])).toEqual([]);
        expect(mismatches(gd, want.dlogits, (i) => dGrad[i])).toEqual([]);
        const sumBound =
          dLoss.reduce((a, b) => a + b, 0) +
          gamma(Math.ceil(T / 128) + 7) * want.losses.reduce((a, b) => a + Math.abs(b), 0);
        expect(mismatches([gt[0]], [want.total[0]], () => sumBound)).toEqual([]);
        expect(gt[1]).toBe(want.total[1]);
        [tl, tt, losses, total].forEach((t) => t.release());
      });
    }

  it('grad: false computes the same losses and leaves the logits intact', async () => {
    const ctx = await gpu();
    const c = CASES[2];
    const { logits, targets } = inputs(c);
    const tl = ctx.upload(logits, [c.T, c.V]);
    const tt = ctx.upload(targets, [c.T], 'i32');
    const { losses, total } = crossEntropy(ctx, tl, tt, { T: c.T, V: c.V, gradScale: 1, grad: false });
    expect(await ctx.read(tl)).toEqual(logits);
    const withGrad = crossEntropy(ctx, ctx.upload(logits, [c.T, c.V]), tt, { T: c.T, V: c.V, gradScale: 1 });
    expect(await ctx.read(losses)).toEqual(await ctx.read(withGrad.losses)); // same kernel path for the loss
    expect(await ctx.read(total)).toEqual(await ctx.read(withGrad.total));
  });

  it('an empty batch gives {0, 0}', async () => {
    const ctx = await gpu();
    const total = ctx.upload(new Float32Array([7, 7]), [2]);
    crossEntropy(ctx, ctx.tensor([0, 512]), ctx.tensor([0], 'i32'), { T: 0, V: 512, gradScale: 1 }, { total });
    expect(Array.from(await ctx.read(total))).toEqual([0, 0]);
  });
});

describe(`crossEntropy reference gradient vs finite differences (seed ${seed})`, () => {
  it('d(gradScale·Σ losses)/dlogits, with a masked row', () => {
    const [T, V, gradScale] = [4, 11, 0.3];
    const random = rng(seed + 3);
    const logits = randomF32(T * V, random).map((v) => 5 * v);
    const targets = Int32Array.from([3, -1, 0, 10]);
    const f = (l: Float64Array) => gradScale * crossEntropyRef(l, targets, { T, V, gradScale }).total[0];
    const numeric = numericGrad(f, logits);
    // Float64 central differences, h = 1e-6: rounding ~1e-16·|L|/h ≈ 1e-10 and truncation h²·|L'''| ≈ 1e-12;
    // a wrong gradient (missing onehot, wrong normalisation) is off by O(gradScale/V) or more.
    expect(mismatches(numeric, crossEntropyRef(logits, targets, { T, V, gradScale }).dlogits, () => 1e-8)).toEqual([]);
  });
});
