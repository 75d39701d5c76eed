// The adapters' parameter lists (PEFT names, shapes, order), their seeded init, settings checks, and the
// wiring of their sites: computing from run.params (MeTA-LoRA's local θ_i) and adding into the right slots
// of `grads`. The branch arithmetic itself is proven in lora.test.ts / mtlLora.test.ts and the whole step
// in trainStep.test.ts; here a loose bound (1e-5 of the largest value) suffices, since a wrong tensor or
// task changes outputs by O(1).

import { describe, expect, it } from 'vitest';
import { kaimingUniform, siteDropoutSeed } from '../../src/adapters/init';
import { createLora } from '../../src/adapters/lora';
import { createMtlLora } from '../../src/adapters/mtlLora';
import { ALL_TARGETS, type Adapter, type LoraSettings, type MtlLoraSettings } from '../../src/adapters/types';
import type { GpuContext } from '../../src/gpu/context';
import type { Tensor } from '../../src/gpu/tensor';
import type { LlamaConfig } from '../../src/model/config';
import { loraForwardRef } from '../../src/reference/lora';
import { mtlLoraForwardRef } from '../../src/reference/mtlLora';
import { mismatches } from '../helpers/compare';
import { addBranchDx, addBranchOutput } from '../helpers/branch';
import { gpu } from '../helpers/gpu';
import { freshSeed, randomF32, rng } from '../helpers/random';

const seed = freshSeed();
const cfg: LlamaConfig = {
  arch: 'llama',
  dim: 48,
  hiddenDim: 80,
  nLayers: 2,
  nHeads: 6,
  nKvHeads: 2,
  headDim: 8,
  vocabSize: 64,
  normEps: 1e-5,
  ropeTheta: 10000,
  ropePairing: 'half',
  ropeScaling: null,
  tiedEmbeddings: true,
  contextLength: 64,
  qkvBias: false,
};
const lora: LoraSettings = { rank: 4, alpha: 8, dropout: 0, targets: ['down', 'q', 'v'] };
const mtl: MtlLoraSettings = { ...lora, nUp: 3, tau: 0.5, tasks: 2, wInit: 'kaiming' };
const P = 'base_model.model.model.layers';

const readAll = (ctx: GpuContext, a: Adapter) => Promise.all(a.params.map((p) => ctx.read(p)));
const close = (got: ArrayLike<number>, want: ArrayLike<number>) => {
  const scale = Math.max(...Array.from(want, Math.abs));
  return mismatches(got, want, () => 1e-5 * scale);
};

describe(`adapters (seed ${seed})`, () => {
  it('LoRA: PEFT names, shapes and order; A Kaiming-uniform U(±1/√in) from the seed, B zero', async () => {
    const ctx = await gpu();
    const a = createLora(ctx, cfg, lora, seed);
    expect(a.names.slice(0, 6)).toEqual([
      `${P}.0.self_attn.q_proj.lora_A.weight`,
      `${P}.0.self_attn.q_proj.lora_B.weight`,
      `${P}.0.self_attn.v_proj.lora_A.weight`,
      `${P}.0.self_attn.v_proj.lora_B.weight`,
      `${P}.0.mlp.down_proj.lora_A.weight`,
      `${P}.0.mlp.down_proj.lora_B.weight`,
    ]);
    expect(a.names[6]).toBe(`${P}.1.self_attn.q_proj.lora_A.weight`);
    const layerShapes = [
      [4, 48],
      [48, 4],
      [4, 48],
      [16, 4],
      [4, 80],
      [48, 4],
    ]; // q A, B; v A, B; down A, B
    expect(a.params.map((p) => p.shape)).toEqual([...layerShapes, ...layerShapes]);
    expect(a.site(0, 'k')).toBeNull();
    expect(a.site(1, 'down')).not.toBeNull();
    const values = await readAll(ctx, a);
    values.forEach((v, i) => {
      if (i % 2) return expect(v.every((x) => x === 0)).toBe(true);
      const bound = 1 / Math.sqrt(a.params[i].shape[1]);
      const absMean = v.reduce((s, x) => s + Math.abs(x), 0) / v.length;
      expect(v.every((x) => Math.abs(x) <= bound)).toBe(true);
      // ≥ 192 draws: max |x| > 0.95·bound fails with probability < 1e-4; E|x| = bound/2 (σ of the mean ≈ 0.02·bound).
      expect(v.reduce((m, x) => Math.max(m, Math.abs(x)), 0)).toBeGreaterThan(0.95 * bound);
      expect(Math.abs(absMean / bound - 0.5)).toBeLessThan(0.1);
    });
    // Same seed, same adapter; another seed, another A; another target set leaves q's A as it was.
    const again = createLora(ctx, cfg, lora, seed);
    const other = createLora(ctx, cfg, lora, seed + 1);
    const onlyQ = createLora(ctx, cfg, { ...lora, targets: ['q'] }, seed);
    expect(await readAll(ctx, again)).toEqual(values);
    expect((await readAll(ctx, other))[0]).not.toEqual(values[0]);
    expect((await readAll(ctx, onlyQ))[0]).toEqual(values[0]);
    [a, again, other, onlyQ].forEach((x) => x.release());
  });

  it('MTL-LoRA: names, shapes, order; Λ_t identity, B zero, w_t U(±1/√n) or uniform', async () => {
    const ctx = await gpu();
    const a = createMtlLora(ctx, cfg, mtl, seed);
    const q = `${P}.0.self_attn.q_proj`;
    expect(a.names.slice(0, 6)).toEqual([
      `${q}.mtl_lora_A.weight`,
      `${q}.mtl_lora_B.weight`,
      `${q}.mtl_lora_Lambda.0.weight`,
      `${q}.mtl_lora_Lambda.1.weight`,
      `${q}.mtl_lora_w.0`,
      `${q}.mtl_lora_w.1`,
    ]);
    expect(a.params.slice(0, 6).map((p) => p.shape)).toEqual([[4, 48], [3, 48, 4], [4, 4], [4, 4], [3], [3]]);
    expect(a.names.length).toBe(2 * 3 * 6);
    const v = await readAll(ctx, a);
    expect(v[1].every((x) => x === 0)).toBe(true);
    expect(Array.from(v[2])).toEqual([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]);
    expect(v[4].every((x) => Math.abs(x) <= 1 / Math.sqrt(3))).toBe(true);
    expect(v[4]).not.toEqual(v[5]);
    const uniform = createMtlLora(ctx, cfg, { ...mtl, wInit: 'uniform' }, seed);
    expect((await readAll(ctx, uniform))[4]).toEqual(new Float32Array(3));
    [a, uniform].forEach((x) => x.release());
  });

  it('refuses settings no adapter can use', async () => {
    const ctx = await gpu();
    for (const bad of [
      { rank: 0 },
      { rank: 2.5 },
      { dropout: 1 },
      { targets: [] },
      { targets: ['q', 'q'] },
      { targets: ['x'] },
    ]) {
      expect(() => createLora(ctx, cfg, { ...lora, ...bad } as LoraSettings, seed), JSON.stringify(bad)).toThrow();
    }
    for (const bad of [{ nUp: 0 }, { tasks: 0 }, { tau: 0 }]) {
      expect(() => createMtlLora(ctx, cfg, { ...mtl, ...bad }, seed), JSON.stringify(bad)).toThrow();
    }
  });

  it('every (layer, target) site gets its own dropout seed', () => {
    const seeds = new Set(ALL_TARGETS.flatMap((t) => [0, 1, 2].map((l) => siteDropoutSeed(seed, l, t))));
    expect(seeds.size).toBe(3 * ALL_TARGETS.length);
    expect(siteDropoutSeed(seed, 1, 'up')).toBe(siteDropoutSeed(seed, 1, 'up'));
    expect(kaimingUniform(8, 4, seed, 'n')).toEqual(kaimingUniform(8, 4, seed, 'n'));
  });

  // A site of layer 1's v projection, run on a local copy of the parameters with random values.
  for (const kind of ['lora', 'mtl-lora'] as const) {
    it(`${kind} site computes from run.params and adds into its own gradient slots only`, async () => {
      const ctx = await gpu();
      const random = rng(seed + (kind === 'lora' ? 1 : 2));
      const s = { ...mtl, dropout: 0.25 };
      const a = kind === 'lora' ? createLora(ctx, cfg, s, seed) : createMtlLora(ctx, cfg, s, seed);
      const local = a.params.map((p) => ctx.upload(randomF32(p.numel, random), p.shape));
      const host = await Promise.all(local.map((p) => ctx.read(p)));
      const grads = a.params.map((p) => ctx.upload(new Float32Array(p.numel), p.shape));
      const T = 5,
        IN = 48,
        OUT = 16,
        task = 1;
      const run = { task, dropoutSeed: 9, params: local };
      const x = randomF32(T * IN, random),
        dy = randomF32(T * OUT, random);
      const [tx, tdy] = [ctx.upload(x, [T, IN]), ctx.upload(dy, [T, OUT])];
      const [ty, tdx] = [
        ctx.upload(new Float32Array(T * OUT), [T, OUT]),
        ctx.upload(new Float32Array(T * IN), [T, IN]),
      ];
      const site = a.site(1, 'v')!;
      const branch = site.forward(ctx, tx, T, run);
      addBranchOutput(ctx, branch.lowRank, T, OUT, ty);
      addBranchDx(ctx, site.backward(ctx, tx, branch.saved, tdy, T, run, grads), T, IN, tdx);
      const at = (suffix: string) => a.names.indexOf(`${P}.1.self_attn.v_proj.${suffix}`);
      const o = { scale: 2, dropout: 0.25, seed: siteDropoutSeed(9, 1, 'v'), tau: 0.5 };
      const d = { T, in: IN, out: OUT, r: 4, n: 3 };
      const want =
        kind === 'lora'
          ? loraForwardRef(x, host[at('lora_A.weight')], host[at('lora_B.weight')], d, o).y
          : mtlLoraForwardRef(
              x,
              host[at('mtl_lora_A.weight')],
              host[at(`mtl_lora_Lambda.${task}.weight`)],
              host[at('mtl_lora_B.weight')],
              host[at(`mtl_lora_w.${task}`)],
              d,
              o,
            ).y;
      expect(close(await ctx.read(ty), want)).toEqual([]);
      const mine =
        kind === 'lora'
          ? ['lora_A.weight', 'lora_B.weight']
          : ['mtl_lora_A.weight', 'mtl_lora_B.weight', `mtl_lora_Lambda.${task}.weight`, `mtl_lora_w.${task}`];
      const touched = (await Promise.all(grads.map((g) => ctx.read(g)))).flatMap((g, i) =>
        g.some((v) => v !== 0) ? [i] : [],
      );
      expect(touched).toEqual(mine.map(at).sort((i, j) => i - j));
      expect((await ctx.read(tdx)).some((v) => v !== 0)).toBe(true);
      ([...local, ...grads, tx, tdy, ty, tdx] as Tensor[]).forEach((t) => t.release());
      a.release();
    });
  }
});
