// `npm run bench -- matmul`: GFLOP/s of our f32 matmul against TensorFlow.js's WebGPU matmul, same adapter.

import type { GpuContext } from '../src/gpu/context';
import { matmul, matmulVariant } from '../src/ops/matmul';
import { type Tf, tfjsOnDevice } from './tfjs';
import { table, timeIt } from './harness';
import { saveResults } from './files';

export async function benchMatmul(ctx: GpuContext, sizes = [256, 512, 1024]): Promise<void> {
  const { tf, flush } = await tfjsOnDevice(ctx);
  const rows: Record<string, string | number>[] = [];
  for (const n of sizes) {
    const flops = 2 * n ** 3;
    const hostA = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);
    const hostB = Float32Array.from({ length: n * n }, () => Math.random() - 0.5);

    const a = ctx.upload(hostA, [n, n]);
    const b = ctx.upload(hostB, [n, n]);
    const c = ctx.tensor([n, n]);
    const ours = await timeIt(
      () => void matmul(ctx, a, b, n, n, n, {}, c),
      () => ctx.sync(),
    );
    [a, b, c].forEach((t) => t.release());

    const ta = tf.tensor2d(hostA, [n, n]);
    const tb = tf.tensor2d(hostB, [n, n]);
    let tc: ReturnType<Tf['matMul']> | null = null;
    const theirs = await timeIt(
      () => {
        tc?.dispose();
        tc = tf.matMul(ta, tb);
      },
      async () => {
        flush();
        await ctx.device.queue.onSubmittedWorkDone();
      },
    );
    (tc as ReturnType<Tf['matMul']> | null)?.dispose();
    ta.dispose();
    tb.dispose();

    const row = {
      size: `${n}×${n}×${n}`,
      ours_gflops: +(flops / ours / 1e9).toFixed(3),
      tfjs_gflops: +(flops / theirs / 1e9).toFixed(3),
      ratio: +(theirs / ours).toFixed(2),
      variant: matmulVariant(ctx, n, n, n, {}),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  console.log(`\n${table(rows)}\n\nresults: ${saveResults(ctx, 'matmul', rows)}`);
}
