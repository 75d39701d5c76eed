// The engine behind the worker: one GPU context, one loaded model, training runs with pause/resume/stop,
// evaluation, the playground and exports. It knows nothing of postMessage (engine.worker.ts wires it), so the
// Node tests drive exactly this class on Dawn. Runs are identified by the UI's run id; a run's adapter lives
// in its checkpoint (saved at every checkpoint and at the end), so after a reload it is found again there.

import type { Adapter } from '../adapters/types';
import type { GpuContext } from '../gpu/context';
import { type AdapterData, adapterConfig } from '../export/adapterData';
import { fileSize } from '../export/files';
import { exportAdapter } from '../export/index';
import { QUANTIZED } from '../export/tensorCodec';
import { zipFiles } from '../export/zip';
import { concatParts } from '../io/ggufWriter';
import type { ModelCache } from '../io/modelCache';
import { parameterCount } from '../model/config';
import { describeModel, loadDescribed, type ModelDescription, type ModelFiles } from '../model/load';
import { type BaseQuant, type ModelWeights, releaseWeights } from '../model/weights';
import { readNamedTensors, writeNamedTensors } from '../train/checkpoint';
import { type CheckpointStore, loadCheckpoint } from '../train/checkpointStore';
import { adaptToTask } from '../train/adapt';
import { adaptationOf, evaluateTasks, type TaskResult } from '../train/evaluateTasks';
import { createAdapterFor, prepareTasks, runTraining } from '../train/run';
import { type TrainSettings, splitPlan } from '../train/settings';
import { type SplitSummary, splitTasks } from '../data/split';
import { splitTask, tokenizeExample } from '../data/tasks';
import { type PresetSizes, presetSizes } from '../model/memory';
import { PRESETS } from '../model/presets';
import { readDataset } from './datasets';
import { GpuLock } from './gpuLock';
import { resolveModelSource } from './modelSource';
import { generateText } from './playground';
import type {
  DatasetRequest,
  DatasetResult,
  EngineEvent,
  EvaluateRequest,
  ExportOutcome,
  ExportRequest,
  GenerateOutcome,
  GenerateRequest,
  ModelSource,
  ModelSummary,
  RunControl,
  TaskInput,
  TrainOutcome,
  TrainRequest,
} from './protocol';
import { TrainingJob } from './trainingJob';

export class EngineError extends Error {
  override name = 'EngineError';
}

export interface EngineDeps {
  /** The GPU context (created on first use; after a device loss, a new one). */
  gpu: () => Promise<GpuContext>;
  /** Where run `runId` keeps its checkpoint (IndexedDB in the browser), and how to delete it. */
  checkpoints: (runId: string) => CheckpointStore;
  deleteCheckpoint: (runId: string) => Promise<void>;
  modelCache: () => ModelCache;
  emit: (event: EngineEvent) => void;
}

interface Loaded {
  summary: ModelSummary;
  /** The files it came from: merged exports read the base weights from them again. */
  files: ModelFiles;
  description: ModelDescription;
  weights: ModelWeights;
}

/** A run's adapter on the GPU, kept for the next evaluate/generate/export of the same run. */
interface RunAdapter {
  runId: string;
  adapter: Adapter;
  settings: TrainSettings;
  tasks: string[];
}

export class Engine {
  private model: Loaded | null = null;
  private jobs = new Map<string, TrainingJob>();
  private cached: RunAdapter | null = null;
  private lock = new GpuLock();

  constructor(private deps: EngineDeps) {}

  async loadModel(source: ModelSource, quant: BaseQuant, hubEndpoint?: string): Promise<ModelSummary> {
    if (this.jobs.size > 0) throw new EngineError('A training run is active: stop it before loading another model.');
    const ctx = await this.deps.gpu();
    const { emit } = this.deps;
    const resolved = await resolveModelSource(source, {
      cache: this.deps.modelCache,
      endpoint: hubEndpoint,
      onProgress: (p) =>
        emit({ kind: 'progress', phase: 'download', label: p.file, done: p.loaded, total: p.total ?? null }),
    });
    const description = await describeModel(resolved.files);
    if (!description.tokenizer) {
      throw new EngineError(
        `${resolved.label} has no tokenizer: add tokenizer.json (or the llama2.c tokenizer .bin) to the files.`,
      );
    }
    return this.lock.run(async () => {
      this.unloadModel();
      const before = ctx.pool.inUseBytes;
      const { weights } = await loadDescribed(ctx, description, {
        quant,
        onProgress: (done, total) => emit({ kind: 'progress', phase: 'load', label: resolved.label, done, total }),
      });
      const { config } = description;
      const summary: ModelSummary = {
        label: resolved.label,
        format: resolved.files.kind,
        config,
        parameters: parameterCount(config),
        quant,
        storedQuantized: description.tensors.some((t) => QUANTIZED.includes(t.dtype)),
        weightBytes: ctx.pool.inUseBytes - before,
        hasChatTemplate: !!description.chatTemplate,
        chatTemplate: description.chatTemplate ?? null,
        fingerprint: `${resolved.label}|${config.dim}x${config.nLayers}|${config.vocabSize}`,
      };
      this.model = { summary, files: resolved.files, description, weights };
      return summary;
    });
  }

  private loaded(): Loaded {
    if (!this.model) throw new EngineError('No model is loaded: load one first.');
    return this.model;
  }

  private unloadModel(): void {
    this.dropCachedAdapter();
    if (this.model) releaseWeights(this.model.weights);
    this.model = null;
  }

  private dropCachedAdapter(): void {
    this.cached?.adapter.release();
    this.cached = null;
  }

  /** Reads a dataset file; with a model loaded, lengths are checked in its tokens and its chat template applies. */
  readDataset(spec: DatasetRequest): DatasetResult {
    const m = this.model;
    return readDataset(
      spec,
      m && { tokenizer: m.description.tokenizer!, chatTemplate: m.description.chatTemplate ?? null },
    );
  }

  /** How each task divides under these settings (pool, held-out set, notes), by the training's own split. */
  splitTasks(tasks: TaskInput[], settings: TrainSettings): SplitSummary[] {
    return splitTasks(tasks, splitPlan(settings)).summary;
  }

  /** A curated preset's download size and GPU memory with this quantization, computed from its config. */
  presetSizes(presetId: string, quant: BaseQuant): PresetSizes {
    const preset = PRESETS.find((p) => p.id === presetId);
    if (!preset) throw new EngineError(`There is no preset "${presetId}".`);
    return presetSizes(preset, quant);
  }

  /** Trains (or resumes) a run to its end or until stopped; metrics and states stream as events. */
  async train(spec: TrainRequest): Promise<TrainOutcome> {
    const { runId, settings } = spec;
    if (this.jobs.has(runId)) throw new EngineError(`Run ${runId} is already training.`);
    const m = this.loaded();
    const { emit } = this.deps;
    const job = new TrainingJob(runId, this.lock, (state, iteration) =>
      emit({ kind: 'runState', runId, state, iteration }),
    );
    this.jobs.set(runId, job); // before any await: a second start of the same run is refused
    if (this.cached?.runId === runId) this.dropCachedAdapter();
    try {
      const ctx = await this.deps.gpu();
      const tasks = prepareTasks(m.description.tokenizer!, spec.tasks, settings);
      await job.start();
      emit({ kind: 'runState', runId, state: 'running', iteration: 0 });
      const result = await runTraining({
        ctx,
        model: { weights: m.weights, config: m.description.config },
        tasks,
        settings,
        store: this.deps.checkpoints(runId),
        resume: spec.resume,
        control: job.control,
        onRecords: (rows, restored) => emit({ kind: 'metrics', runId, rows, restored, gpuBytes: ctx.pool.inUseBytes }),
      });
      this.dropCachedAdapter();
      this.cached = { runId, adapter: result.adapter, settings, tasks: tasks.map((t) => t.name) };
      return {
        runId,
        iteration: result.iteration,
        status: result.iteration === settings.iterations ? 'done' : 'stopped',
        resumedFrom: result.resumedFrom,
      };
    } finally {
      job.finish();
      this.jobs.delete(runId);
    }
  }

  control(runId: string, action: RunControl): void {
    const job = this.jobs.get(runId);
    if (!job)
      throw new EngineError(
        `Run ${runId} is not training here (it may have ended, or the page was reloaded: resume it).`,
      );
    job.apply(action);
  }

  /** The run's adapter: the one just trained, or rebuilt from its checkpoint. */
  private async runAdapter(ctx: GpuContext, runId: string): Promise<RunAdapter> {
    if (this.cached?.runId === runId) return this.cached;
    const ck = await loadCheckpoint(this.deps.checkpoints(runId));
    if (!ck) throw new EngineError(`Run ${runId} has no checkpoint yet: train it first.`);
    const adapter = createAdapterFor(ctx, this.loaded().description.config, ck.settings, ck.tasks.length, 0);
    writeNamedTensors(ctx, adapter.names, adapter.params, ck.params);
    this.dropCachedAdapter();
    this.cached = { runId, adapter, settings: ck.settings, tasks: ck.tasks.map((t) => t.name) };
    return this.cached;
  }

  /**
   * Held-out loss and accuracies per task, with a run's adapter (as it is and, when asked, after test-time
   * adaptation) or the base model (an adapter with B = 0).
   */
  async evaluate(spec: EvaluateRequest): Promise<TaskResult[]> {
    const m = this.loaded();
    const ctx = await this.deps.gpu();
    return this.lock.run(async () => {
      const own =
        spec.runId === null ? createAdapterFor(ctx, m.description.config, spec.settings, spec.tasks.length, 0) : null;
      const adapter = own ?? (await this.runAdapter(ctx, spec.runId!)).adapter;
      try {
        const emit = (done: number, total: number, label: string) =>
          this.deps.emit({ kind: 'progress', phase: 'evaluate', label, done, total });
        return await evaluateTasks(
          ctx,
          this.trainModel(),
          adapter,
          m.description.tokenizer!,
          spec.settings,
          spec.tasks.map((t, id) => ({ ...t, id })),
          { accuracy: spec.accuracy, adapt: spec.adapt, sharedOnly: own !== null, onProgress: emit },
        );
      } finally {
        own?.release();
      }
    });
  }

  private trainModel() {
    const m = this.loaded();
    return { weights: m.weights, config: m.description.config };
  }

  async generate(spec: GenerateRequest, requestId: number): Promise<GenerateOutcome> {
    const m = this.loaded();
    const ctx = await this.deps.gpu();
    return this.lock.run(async () => {
      const withAdapter = spec.runId === null ? null : await this.runAdapter(ctx, spec.runId);
      const task = withAdapter ? Math.min(spec.task, withAdapter.tasks.length - 1) : 0;
      const local = withAdapter && spec.adaptTo ? this.adaptedParams(ctx, withAdapter, spec.adaptTo, task) : null;
      try {
        return await generateText(
          ctx,
          this.trainModel(),
          m.description.tokenizer!,
          withAdapter && {
            adapter: withAdapter.adapter,
            task,
            params: local ?? withAdapter.adapter.params,
          },
          spec,
          (text) => this.deps.emit({ kind: 'text', requestId, text }),
        );
      } finally {
        local?.forEach((t) => t.release());
      }
    });
  }

  /** The run's adapter adapted to `task` (its pool by the run's split, or k seeded examples of a new task). */
  private adaptedParams(ctx: GpuContext, ra: RunAdapter, task: TaskInput, id: number) {
    const s = ra.settings;
    const trained = ra.tasks.includes(task.name);
    const pool = trained ? splitTask(task, splitPlan(s)).train : task.examples;
    if (pool.length === 0) throw new EngineError(`Task ${task.name} has no examples to adapt on.`);
    const tok = this.loaded().description.tokenizer!;
    const tokenized = pool.map((e) => tokenizeExample(tok, e, { maxLength: s.maxSeqLen, eos: s.appendEos }));
    return adaptToTask(
      ctx,
      this.trainModel(),
      ra.adapter,
      trained ? ra.tasks.indexOf(task.name) : id,
      task.name,
      tokenized,
      adaptationOf(s),
    );
  }

  /** The run's adapter in `spec.format` with the training report, zipped (and a lone model file on its own). */
  async exportRun(spec: ExportRequest): Promise<ExportOutcome> {
    const m = this.loaded();
    const ctx = await this.deps.gpu();
    return this.lock.run(async () => {
      const ra = await this.runAdapter(ctx, spec.runId);
      const tensors = await readNamedTensors(ctx, ra.adapter.names, ra.adapter.params);
      const adapter: AdapterData = {
        config: adapterConfig(ra.adapter, ra.settings, ra.tasks, m.summary.label, m.description.config.ropePairing),
        tensors: new Map(tensors.map((t) => [t.name, t])),
      };
      const result = await exportAdapter(spec.format, {
        adapter,
        base: m.files,
        metrics: spec.metrics,
        task: spec.task,
        dtype: spec.dtype,
        data: Object.entries(spec.dataCounts).map(([task, c]) => ({ task, train: c.train, heldOut: c.eval })),
        run: spec.tasks && { tasks: prepareTasks(m.description.tokenizer!, spec.tasks, ra.settings) },
      });
      const notes = [...result.notes];
      if (m.summary.quant !== 'keep' && spec.format.startsWith('merged')) {
        notes.push(
          `Training ran on the base quantized on load to ${m.summary.quant.toUpperCase()}; the merge adds the adapter ` +
            'to the weights as stored in the model file.',
        );
      }
      const stem = `${m.summary.label.replace(/[^A-Za-z0-9._-]+/g, '_')}-${spec.format}${spec.task ? `-${spec.task}` : ''}`;
      const downloads = [{ name: `${stem}.zip`, bytes: zipFiles(result.files) }];
      const models = result.files.filter((f) => f.name.endsWith('.gguf'));
      if (models.length === 1) downloads.unshift({ name: models[0].name, bytes: concatParts(models[0].parts) });
      return { downloads, files: result.files.map((f) => ({ name: f.name, bytes: fileSize(f) })), notes };
    });
  }

  async deleteRun(runId: string): Promise<void> {
    if (this.jobs.has(runId)) throw new EngineError('Stop the run before deleting it.');
    if (this.cached?.runId === runId) this.dropCachedAdapter();
    await this.deps.deleteCheckpoint(runId);
  }

  async memory(): Promise<{ inUseBytes: number; peakBytes: number }> {
    const { pool } = await this.deps.gpu();
    return { inUseBytes: pool.inUseBytes, peakBytes: pool.peakBytes };
  }

  /** After a device loss nothing on the GPU survives: forget the model and adapters (runs resume from checkpoints). */
  forgetGpuState(): void {
    this.model = null;
    this.cached = null;
    for (const job of this.jobs.values()) job.apply('stop');
  }
}
