// The GPU report (`npm run bench -- report [--quick]` in Node: bench/report.ts; bench.html in a browser:
// bench/browser/), platform-neutral — every section measured on the adapter it is given:
//   peak       measured f32 FMA rate and copy bandwidth (shaders/peak_probe.wgsl): the denominators of "share";
//   kernels    every kernel at SmolLM2-135M's shapes (T = 256) in GFLOP/s or GB/s, with its share of the peak;
//   dispatches GPU commands per iteration of each method on the 30-layer SmolLM2-135M shape (from dry runs of
//              2 and 3 layers, bench/dispatches.ts countByLayers);
//   variants   every kernel family's candidates timed by the tuner (bench/variants.ts) and the choice adopted;
//   training   tokens/s and peak pooled GPU memory of each method, executed, on the SmolLM2-135M shape with a
//              Q4_0 base, rank 8, seq 256, batch 4 (K = 4 tasks of |S| = |Q| = 4, 2 inner steps), with each
//              family's default kernels and with the measured choices, alternating in this one run (the ratio
//              is the selection's gain, or its cost where it guessed wrong);
//   inference  evaluation (forward + loss) tokens/s and KV-cached decode tokens/s (src/model/generate.ts).
// `--quick` (for CPU adapters, where one full iteration takes many minutes) trains and decodes with 2 layers,
// seq 32, K = 2 tasks of |S| = |Q| = 1, 1 inner step, batch 2; the report says so next to every such number.

import type { GpuContext } from '../src/gpu/context';
import { generate } from '../src/model/generate';
import { releaseWeights } from '../src/model/weights';
import { grid1d } from '../src/ops/grid';
import { packBatch } from '../src/train/batch';
import { createAdapterFor, runTraining } from '../src/train/run';
import { TRAIN_METHODS, type TrainMethod, type TrainSettings, resolveSettings } from '../src/train/settings';
import { evalLoss, type TrainModel } from '../src/train/step';
import { type LayerwiseCount, countByLayers } from './dispatches';
import { timeIt } from './harness';
import { type KernelRow, SHAPES, measureKernels } from './kernels';
import { SMOL_LAYERS, loadSmol, randomTokenTasks } from './smolShape';
import { type VariantRow, measureVariants } from './variants';
import probeSrc from '../shaders/peak_probe.wgsl?raw';

interface Peak {
  gflops: number;
  gbps: number;
}

/** Best of a few sizes: the FMA probe at 2^20 invocations (16·ITERS·2 FLOPs each) and a 64 MiB copy. */
async function measurePeak(ctx: GpuContext): Promise<Peak> {
  const WG = 64;
  const ITERS = 256;
  const n = 2 ** 20;
  const src = ctx.upload(new Float32Array(4 * 2 ** 24), [4 * 2 ** 24]);
  const dst = ctx.tensor([4 * 2 ** 24]);
  const run = (entry: 'fma' | 'copy', count: number) => () =>
    ctx.dispatch(
      ctx.pipeline(probeSrc, { WG, ITERS }, entry),
      [src, dst, ctx.uniform(new Uint32Array([count, 0, 0, 0]))],
      grid1d(ctx, count, WG),
    );
  const sync = () => ctx.sync();
  const fma = await timeIt(run('fma', n), sync, 3, 1);
  const copy = await timeIt(run('copy', 2 ** 24), sync, 3, 1);
  [src, dst].forEach((t) => t.release());
  return { gflops: (n * 8 * 4 * 2 * ITERS) / fma / 1e9, gbps: (2 * 16 * 2 ** 24) / copy / 1e9 };
}

interface Scale {
  label: string;
  layers: number;
  S: number;
  overrides: Partial<TrainSettings>;
}

const FULL: Scale = {
  label: `SmolLM2-135M shape, ${SMOL_LAYERS} layers, Q4_0, rank 8, seq 256, batch 4`,
  layers: SMOL_LAYERS,
  S: 256,
  overrides: { batchSize: 4 },
};
const QUICK: Scale = {
  label: 'quick: SmolLM2-135M shape but 2 layers, Q4_0, rank 8, seq 32, K = 2, |S| = |Q| = 1, 1 inner step, batch 2',
  layers: 2,
  S: 32,
  overrides: { batchSize: 2, tasksPerIteration: 2, supportSize: 1, querySize: 1, innerSteps: 1 },
};

interface TrainRow extends Record<string, string | number> {
  method: TrainMethod;
  tokens_per_s: number;
  'tokens_per_s, defaults': number;
  'measured / defaults': string;
  peak_mib: number;
}

/**
 * Per method, 3 iterations with each family's default kernels and 3 with the measured choices (the first
 * iteration of each compiles pipelines): tokens/s of iterations 2–3, and peak pooled memory.
 */
async function measureTraining(
  ctx: GpuContext,
  model: TrainModel,
  z: Scale,
  log: (line: string) => void,
): Promise<TrainRow[]> {
  const rows: TrainRow[] = [];
  const measured = ctx.kernels.current;
  for (const method of TRAIN_METHODS) {
    ctx.kernels.clear();
    const defaults = await trainTokensPerS(ctx, model, z, method);
    for (const [family, variant] of Object.entries(measured)) ctx.kernels.force(family, variant);
    const tuned = await trainTokensPerS(ctx, model, z, method);
    const row: TrainRow = {
      method,
      tokens_per_s: tuned.tokensPerS,
      'tokens_per_s, defaults': defaults.tokensPerS,
      // Where the measured choices are the defaults, the same kernels ran twice: the ratio is the run's noise.
      'measured / defaults': `${(tuned.tokensPerS / defaults.tokensPerS).toFixed(2)}×${tuned.kernels === defaults.kernels ? ' (same kernels)' : ''}`,
      peak_mib: tuned.peakMiB,
    };
    rows.push(row);
    log(JSON.stringify(row));
  }
  return rows;
}

async function trainTokensPerS(ctx: GpuContext, model: TrainModel, z: Scale, method: TrainMethod) {
  const settings = resolveSettings(method, {
    maxSeqLen: z.S,
    iterations: 3,
    evalEvery: 0,
    checkpointEvery: 0,
    warmupSteps: 0,
    ...z.overrides,
  });
  const perTask = Math.max(settings.supportSize + settings.querySize, settings.batchSize);
  const tasks = randomTokenTasks(model.config.vocabSize, z.S, settings.tasksPerIteration, perTask);
  ctx.pool.peakBytes = ctx.pool.inUseBytes;
  ctx.resetStats();
  const rates: number[] = [];
  const result = await runTraining({
    ctx,
    model,
    tasks,
    settings,
    onRecords: (recs) =>
      recs.filter((r) => r.task === 'mean' && r.iteration >= 2).forEach((r) => rates.push(r.tokens_per_s)),
  });
  result.adapter.release();
  const tokensPerS = rates.reduce((a, b) => a + b, 0) / rates.length;
  const kernels = [...ctx.stats.byKernel.keys()].sort().join(',');
  return { tokensPerS: +tokensPerS.toFixed(2), peakMiB: +(ctx.pool.peakBytes / 2 ** 20).toFixed(1), kernels };
}

/** Forward + loss tokens/s of a batch of 4 sequences, and greedy KV-cached decoding of the base model. */
async function measureInference(ctx: GpuContext, model: TrainModel, z: Scale) {
  const settings = resolveSettings('lora', { maxSeqLen: z.S });
  const adapter = createAdapterFor(ctx, model.config, settings, 1);
  const examples = randomTokenTasks(model.config.vocabSize, z.S, 1, 4)[0].train;
  const batch = packBatch(examples);
  const run = { task: 0, dropoutSeed: 0, params: adapter.params };
  const seconds = await timeIt(
    () => evalLoss(ctx, model, adapter, batch, run).release(),
    () => ctx.sync(),
    2,
    1,
  );
  adapter.release();
  const prompt = [...examples[0].prompt, ...examples[0].completion].slice(0, 16);
  const maxNewTokens = z === QUICK ? 8 : 64;
  await generate(ctx, model.weights, model.config, prompt, { maxNewTokens: 2, greedy: true }); // warm-up
  const g = await generate(ctx, model.weights, model.config, prompt, { maxNewTokens, greedy: true });
  return {
    eval_tokens_per_s: +((batch.B * batch.S) / seconds).toFixed(1),
    prefill_tokens_per_s: +(prompt.length / (g.prefillMs / 1000)).toFixed(1),
    decode_tokens_per_s: +g.tokensPerSecond.toFixed(2),
    decoded_tokens: g.tokens.length,
  };
}

function withShare(rows: KernelRow[], peak: Peak) {
  return rows.map(({ model: _, rate: __, vs_tfjs: ___, ...r }) => ({
    ...r,
    share_of_peak: `${((100 * r.value) / (r.unit === 'GFLOP/s' ? peak.gflops : peak.gbps)).toFixed(1)} %`,
  }));
}

export interface ReportOptions {
  quick: boolean;
  /** Progress lines. */
  log: (line: string) => void;
  /** How the report was started (its header says so). */
  command: string;
  /** One line about the host at the end of the run, for the report's header (CPU load in Node, the browser). */
  host: () => string;
}

/** Runs every section on this adapter: the report as JSON (`doc`) and as markdown. Platform-neutral. */
export async function runReport(ctx: GpuContext, o: ReportOptions): Promise<{ doc: object; markdown: string }> {
  const scale = o.quick ? QUICK : FULL;
  o.log('peak probe…');
  const peak = await measurePeak(ctx);
  o.log(`peak: ${peak.gflops.toFixed(2)} GFLOP/s, ${peak.gbps.toFixed(2)} GB/s\nkernels…`);
  const kernels = withShare(await measureKernels(ctx, [SHAPES[0]], false), peak);
  o.log('kernel variants (the tuner)…');
  const variants = await measureVariants(ctx, o.log); // adopted: what follows runs the measured choices

  o.log(`dispatches per iteration (${SMOL_LAYERS} layers, from dry runs of 2 and 3)…`);
  const dispatches = await countByLayers(ctx, SMOL_LAYERS, 64);
  ctx.pool.trim(); // the dry runs' buffers: a browser's GPU process keeps what the pool keeps

  o.log(`training and inference (${scale.label})…`);
  const model = await loadSmol(ctx, scale.layers);
  const training = await measureTraining(ctx, model, scale, o.log);
  const inference = await measureInference(ctx, model, scale);
  releaseWeights(model.weights);

  const doc = {
    peak,
    kernels,
    variants,
    chosen: ctx.kernels.current,
    dispatches,
    training: { shape: scale.label, rows: training },
    inference: { shape: scale.label, ...inference },
  };
  return {
    doc,
    markdown: markdown(ctx, peak, kernels, variants, dispatches, training, inference, scale, o.host(), o.command),
  };
}

function markdown(
  ctx: GpuContext,
  peak: Peak,
  kernels: ReturnType<typeof withShare>,
  variants: VariantRow[],
  dispatches: LayerwiseCount[],
  training: TrainRow[],
  inference: Awaited<ReturnType<typeof measureInference>>,
  scale: Scale,
  host: string,
  command: string,
): string {
  const mdTable = (rows: Record<string, string | number>[]) => {
    const cols = Object.keys(rows[0] ?? {});
    return [
      `| ${cols.join(' | ')} |`,
      `| ${cols.map(() => '---').join(' | ')} |`,
      ...rows.map((r) => `| ${cols.map((c) => String(r[c])).join(' | ')} |`),
    ].join('\n');
  };
  const counts = dispatches.map((c) => ({
    method: c.method,
    dispatches: c.dispatches,
    copies: c.copies,
    readbacks: c.readbacks,
    'top kernels': Object.entries(c.byKernel)
      .slice(0, 4)
      .map(([k, n]) => `${k} ${n}`)
      .join(', '),
  }));
  return `# GPU report: ${ctx.adapterName}

${ctx.info.runtime}${ctx.info.isSoftware ? ', software adapter' : ''}; ${new Date().toISOString()}; \`${command}\`;
${host} (a software adapter's numbers scale with the CPU it gets).

## Measured peak (shaders/peak_probe.wgsl)
${peak.gflops.toFixed(2)} GFLOP/s f32 multiply-add, ${peak.gbps.toFixed(2)} GB/s copy bandwidth.

## Kernels at SmolLM2-135M shapes (T = 256)
${mdTable(kernels.map((k) => ({ kernel: k.kernel, shape: k.shape, ms: k.ms, rate: `${k.value} ${k.unit}`, 'share of peak': k.share_of_peak })))}

## Kernel variants (the tuner, src/ops/tuning.ts)
Each family's candidates on its probe workload (median ms; "vs reference": the reference variant's time over
this one's); a session adopts the chosen ones (\`--kernels\`, cached per adapter).

${mdTable(variants)}

## Dispatches per training iteration
SmolLM2-135M shape, ${SMOL_LAYERS} layers, Q4_0, rank 8 on q,k,v,o, default episode sizes (K = 4, 2 inner steps,
|S| = |Q| = 4, batch 16), counted at seq 64 with the kernels chosen above in dry runs of 2 and 3 layers, extrapolated (each layer issues the same commands) (seq 256 adds 27–81 head dispatches: \`npm run bench -- dispatches\`).

${mdTable(counts)}

## Training (${scale.label})
${mdTable(training)}

tokens_per_s: with the measured kernel choices; "defaults": each family's default for this kind of adapter,
measured in the same run just before ("same kernels": the choices are the defaults here, so the ratio is noise). Peak MiB: the most the buffer pool held during the run (weights, adapter,
optimizer state, activations).

## Inference (${scale.label})
${mdTable([inference])}
`;
}
