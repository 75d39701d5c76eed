// The Web Worker that owns the GPU engine. The page talks to it only through ./protocol.ts messages, so long
// GPU work never blocks the UI thread. Requests are handled concurrently (a pause must reach a running
// training); the engine serialises GPU work itself.

import { GpuContext } from '../gpu/context';
import { opfsCache } from '../io/modelCache';
import { deleteIndexedDbCheckpoint, indexedDbCheckpointStore } from '../train/checkpointStore';
import { chooseKernels } from '../ops/tuning';
import { Engine } from './engine';
import { indexedDbKernelStore } from './kernelStore';
import type { EngineEvent, GpuProbe, Request, Response, Results } from './protocol';
import { matmulSelfTest } from './selfTest';

const post = (res: Response, transfer: Transferable[] = []) => self.postMessage(res, { transfer });
const emit = (event: EngineEvent) => post({ type: 'event', event });

let context: Promise<GpuContext> | null = null;

function gpu(): Promise<GpuContext> {
  context ??= GpuContext.create().then(
    (ctx) => {
      void ctx.lost.then((e) => {
        context = null; // the next request gets a new device
        measured = null;
        engine.forgetGpuState();
        emit({ kind: 'deviceLost', message: e.message });
      });
      return ctx;
    },
    (e) => {
      context = null; // let the user retry after fixing the browser settings
      throw e;
    },
  );
  return context;
}

/**
 * Adopts this GPU's measured kernel variants (src/ops/tuning.ts), measuring them the first time (a few
 * seconds, with progress). A failure costs speed, not the session: each op's default still runs.
 */
async function measureKernels(ctx: GpuContext): Promise<void> {
  const label = 'Measuring kernel variants for this GPU (once)';
  try {
    await chooseKernels(ctx, indexedDbKernelStore(), {
      progress: (done, total) => emit({ kind: 'progress', phase: 'load', label, done, total }),
    });
  } catch (e) {
    console.warn('kernel measurement failed; using each kernel family’s default', e);
  }
}

function probeGpu(ctx: GpuContext): GpuProbe {
  return { ...ctx.info, kernels: ctx.kernels.current };
}

let measured: Promise<void> | null = null;

/**
 * The context with this GPU's kernel variants adopted: what the engine's jobs (loading, training, evaluation,
 * generation) run on. Measured at the first such job, not when the page first asks for the adapter, so the
 * GPU panel and self-test come at once and the measuring shows as the first model load's progress.
 */
async function tunedGpu(): Promise<GpuContext> {
  const ctx = await gpu();
  await (measured ??= measureKernels(ctx));
  return ctx;
}

const engine = new Engine({
  gpu: tunedGpu,
  checkpoints: indexedDbCheckpointStore,
  deleteCheckpoint: deleteIndexedDbCheckpoint,
  modelCache: () => opfsCache(),
  emit,
});

async function handle(req: Request): Promise<Results[keyof Results]> {
  switch (req.type) {
    case 'probe':
      return probeGpu(await gpu());
    case 'selfTest':
      return matmulSelfTest(await gpu());
    case 'loadModel':
      return engine.loadModel(req.source, req.quant, req.hubEndpoint);
    case 'readDataset':
      return engine.readDataset(req.spec);
    case 'train':
      return engine.train(req.spec);
    case 'control':
      engine.control(req.runId, req.action);
      return null;
    case 'evaluate':
      return engine.evaluate(req.spec);
    case 'generate':
      return engine.generate(req.spec, req.id);
    case 'export':
      return engine.exportRun(req.spec);
    case 'deleteRun':
      return engine.deleteRun(req.runId).then(() => null);
    case 'memory':
      return engine.memory();
    case 'splitTasks':
      return engine.splitTasks(req.tasks, req.settings);
    case 'presetSizes':
      return engine.presetSizes(req.presetId, req.quant);
  }
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const req = event.data;
  try {
    const result = await handle(req);
    // Exported files move to the page instead of being copied.
    const transfer =
      req.type === 'export' ? (result as Results['export']).downloads.map((d) => d.bytes.buffer as ArrayBuffer) : [];
    post({ id: req.id, type: 'result', result }, transfer);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    post({ id: req.id, type: 'error', error: { name: err.name, message: err.message } });
  }
};
