// The GPU context: adapter discovery, buffer pool, pipeline cache, batched submission, readback, device loss.

import { describe, expect, it } from 'vitest';
import { GpuContext } from '../../src/gpu/context';
import { bucketSize } from '../../src/gpu/bufferPool';
import { DeviceLostError, GpuLimitError } from '../../src/gpu/errors';
import { matmul } from '../../src/ops/matmul';
import { matmulRef } from '../../src/reference/matmul';
import { gpu } from '../helpers/gpu';

describe('GpuContext', () => {
  it('finds an adapter and requests its full limits and optional features', async () => {
    const ctx = await gpu();
    expect(ctx.adapterName.length).toBeGreaterThan(0);
    for (const name of ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize']) {
      expect(ctx.info.limits[name]).toBe((ctx.adapter.limits as unknown as Record<string, number>)[name]);
    }
    for (const f of ['shader-f16', 'subgroups', 'timestamp-query'] as const) {
      expect(ctx.has(f)).toBe(ctx.adapter.features.has(f));
    }
  });

  it('round-trips typed data', async () => {
    const ctx = await gpu();
    const f = Float32Array.from([1.5, -2, 3e-8, Infinity]);
    const u = Uint32Array.from([0, 1, 2 ** 32 - 1]);
    const i = Int32Array.from([-(2 ** 31), -1, 7]);
    expect(await ctx.read(ctx.upload(f, [4]))).toEqual(f);
    expect(await ctx.read(ctx.upload(u, [3], 'u32'))).toEqual(u);
    expect(await ctx.read(ctx.upload(i, [3], 'i32'))).toEqual(i);
  });

  it('pools buffers by size bucket and reuses released ones', async () => {
    expect(bucketSize(1)).toBe(256);
    expect(bucketSize(1000)).toBe(1024);
    expect(bucketSize(1025)).toBe(1280);
    expect(bucketSize(3 * 2 ** 20 + 1)).toBe(3.5 * 2 ** 20);
    const ctx = await gpu();
    const t = ctx.tensor([1000]);
    const buffer = t.buffer;
    t.release();
    expect(() => t.release()).toThrow(/twice/);
    const t2 = ctx.tensor([990]);
    expect(t2.buffer).toBe(buffer);
    t2.release();
  });

  it('caches pipelines by source and constants', async () => {
    const ctx = await gpu();
    const code =
      '// test kernel\noverride S: f32 = 1.0;\n@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n' +
      '@compute @workgroup_size(1) fn main() { x[0] = x[0] * S; }';
    const before = ctx.pipelines.size;
    const p1 = ctx.pipeline(code, { S: 2 });
    expect(ctx.pipeline(code, { S: 2 })).toBe(p1);
    expect(ctx.pipeline(code, { S: 3 })).not.toBe(p1);
    expect(ctx.pipelines.size).toBe(before + 2);
    const x = ctx.upload(Float32Array.from([5]), [1]);
    ctx.dispatch(p1, [x], [1]);
    ctx.dispatch(ctx.pipeline(code, { S: 3 }), [x], [1]);
    expect(Array.from(await ctx.read(x))).toEqual([30]);
  });

  it('batches hundreds of dispatches, each with its own uniforms, in order', async () => {
    const ctx = await gpu();
    // 300 chained products (more than one batch's worth of uniform slots): x ← x·W_i with W_i = diag(i+1)/i.
    const n = 3;
    let x = ctx.upload(Float32Array.from([1, 2, 3]), [1, n]);
    const products: Float32Array[] = [];
    for (let i = 1; i <= 300; i++) {
      const w = new Float32Array(n * n);
      for (let d = 0; d < n; d++) w[d * n + d] = (i + 1) / i;
      products.push(w);
    }
    // Uploads first: the 300 dispatches below are then recorded with no host write in between.
    const weights = products.map((w) => ctx.upload(w, [n, n]));
    for (const tw of weights) x = matmul(ctx, x, tw, 1, n, n);
    const got = await ctx.read(x);
    // Each step multiplies by one non-zero weight per column, so float32 rounding once per step is exact.
    let want = Float32Array.from([1, 2, 3]);
    for (const w of products) want = Float32Array.from(matmulRef(want, w, 1, n, n));
    expect(Array.from(got)).toEqual(Array.from(want));
    for (let d = 0; d < n; d++) expect(got[d]).toBeCloseTo(301 * (d + 1), 1);
  });

  it('counts dispatches per kernel, copies, passes and readbacks; a dry run counts the same without running', async () => {
    const ctx = await gpu();
    const a = ctx.upload(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [3, 4],
    );
    const out = ctx.upload(new Float32Array(9), [3, 3]);
    const record = async () => {
      ctx.resetStats();
      matmul(ctx, a, a, 3, 3, 4, { transB: true }, out);
      const copy = ctx.tensor([9]);
      ctx.copy(out, copy, out.byteLength);
      matmul(ctx, a, a, 3, 3, 4, { transB: true, accumulate: true }, out);
      const values = await ctx.read(copy);
      copy.release();
      const { byKernel, ...counts } = ctx.stats;
      return { values, counts, byKernel: Object.fromEntries(byKernel) };
    };
    const real = await record();
    expect(real.counts).toMatchObject({ dispatches: 2, copies: 1, passes: 2, readbacks: 1, bindGroups: 2 });
    expect(Object.values(real.byKernel)).toEqual([2]);
    expect(Object.keys(real.byKernel)[0]).toMatch(/^matmul_/);
    expect(Array.from(real.values)).toEqual(
      Array.from(
        matmulRef(
          Float32Array.from({ length: 12 }, (_, i) => i),
          Float32Array.from({ length: 12 }, (_, i) => i),
          3,
          3,
          4,
          { transB: true },
        ),
      ),
    );
    const before = await ctx.read(out);
    ctx.setDryRun(true);
    const dry = await record();
    ctx.setDryRun(false);
    expect(dry.byKernel).toEqual(real.byKernel);
    expect(dry.counts).toMatchObject({ dispatches: 2, copies: 1, readbacks: 1, passes: 0, bindGroups: 0, submits: 0 });
    expect(Array.from(dry.values)).toEqual(Array(9).fill(0));
    // Nothing ran: the accumulating product left no trace.
    expect(await ctx.read(out)).toEqual(before);
    [a, out].forEach((t) => t.release());
  });

  it('reuses bind groups for the same buffers, with fresh uniforms; forgets them when the pool destroys a buffer', async () => {
    const ctx = await gpu();
    const host = Float32Array.from({ length: 12 }, (_, i) => i - 4);
    const want = matmulRef(host, host, 3, 3, 4, { transB: true });
    const a = ctx.upload(host, [3, 4]);
    // alpha lives in the uniforms: a reused bind group must still see each dispatch's own value.
    const product = async (alpha: number) => {
      ctx.resetStats();
      const out = matmul(ctx, a, a, 3, 3, 4, { transB: true, alpha });
      const values = Array.from(await ctx.read(out));
      out.release();
      return { values, created: ctx.stats.bindGroups };
    };
    const first = await product(1);
    const second = await product(2);
    expect(first.values).toEqual(Array.from(want));
    expect(second.values).toEqual(Array.from(want, (v) => 2 * v));
    expect(second.created).toBe(0);
    // Within one batch the same buffers with another uniform slot are another bind group.
    const out = ctx.tensor([3, 3]);
    const saved = ctx.tensor([3, 3]);
    matmul(ctx, a, a, 3, 3, 4, { transB: true, alpha: 5 }, out);
    ctx.copy(out, saved, out.byteLength);
    matmul(ctx, a, a, 3, 3, 4, { transB: true, alpha: 7 }, out);
    expect(Array.from(await ctx.read(saved))).toEqual(Array.from(want, (v) => 5 * v));
    expect(Array.from(await ctx.read(out))).toEqual(Array.from(want, (v) => 7 * v));
    [out, saved].forEach((t) => t.release());

    // A dry run counts the bind groups a real run of the same work then creates.
    const b = ctx.upload(host, [4, 3]);
    const record = () => {
      ctx.resetStats();
      const out = matmul(ctx, a, b, 3, 3, 4);
      matmul(ctx, a, b, 3, 3, 4, { accumulate: true }, out);
      return out;
    };
    ctx.setDryRun(true);
    record().release();
    const dryCreated = ctx.stats.bindGroups;
    ctx.setDryRun(false);
    const sum = record();
    expect(ctx.stats.bindGroups).toBe(dryCreated);
    expect(dryCreated).toBe(2);
    expect(Array.from(await ctx.read(sum))).toEqual(Array.from(matmulRef(host, host, 3, 3, 4), (v) => 2 * v));

    // Destroying a buffer drops every bind group that binds it.
    const size = ctx.bindGroups.size;
    [sum, b].forEach((t) => t.release());
    ctx.pool.trim();
    expect(ctx.bindGroups.size).toBeLessThan(size);
    expect((await product(3)).values).toEqual(Array.from(want, (v) => 3 * v));
    a.release();
  });

  it('warms pipelines asynchronously from a dry run of the work, leaving stats and buffers as they were', async () => {
    const ctx = await gpu();
    const code =
      '// warm test kernel\noverride S: f32 = 1.0;\n@group(0) @binding(0) var<storage, read_write> x: array<f32>;\n' +
      '@compute @workgroup_size(1) fn main() { x[0] = x[0] * S; }';
    const x = ctx.upload(Float32Array.from([5]), [1]);
    ctx.resetStats();
    const before = ctx.pipelines.size;
    const record = () => {
      ctx.dispatch(ctx.pipeline(code, { S: 2 }), [x], [1]);
      ctx.dispatch(ctx.pipeline(code, { S: 2 }), [x], [1]);
      ctx.dispatch(ctx.pipeline(code, { S: 3 }), [x], [1]);
    };
    expect(await ctx.warmPipelines(record)).toBe(2);
    expect(ctx.pipelines.size).toBe(before + 2);
    expect(ctx.stats.dispatches).toBe(0);
    expect(ctx.isDryRun).toBe(false);
    expect(await ctx.warmPipelines(record)).toBe(0);
    record();
    expect(ctx.pipelines.size).toBe(before + 2);
    expect(Array.from(await ctx.read(x))).toEqual([60]);
    x.release();
  });

  it('refuses work beyond the adapter limits with a clear error', async () => {
    const ctx = await gpu();
    const max = ctx.device.limits.maxStorageBufferBindingSize;
    expect(() => ctx.tensor([Math.ceil(max / 4) + 1])).toThrow(GpuLimitError);
    const code = '// noop\n@compute @workgroup_size(1) fn main() {}';
    expect(() =>
      ctx.dispatch(ctx.pipeline(code), [], [ctx.device.limits.maxComputeWorkgroupsPerDimension + 1]),
    ).toThrow(/exceeds this GPU's limit/);
  });

  it('surfaces a lost device as DeviceLostError', async () => {
    const ctx = await GpuContext.create();
    const t = ctx.upload(Float32Array.from([1, 2]), [2]);
    ctx.device.destroy();
    const err = await ctx.lost;
    expect(err).toBeInstanceOf(DeviceLostError);
    expect(err.message).toMatch(/resume from the last checkpoint/);
    expect(() => ctx.tensor([4])).toThrow(DeviceLostError);
    await expect(ctx.read(t)).rejects.toThrow(DeviceLostError);
  });
});
