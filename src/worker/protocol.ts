// The only coupling between the UI and the engine: typed messages to and from the engine worker.
// Requests carry an id and get exactly one response with that id (a result or an error); long work also
// sends events (progress, metrics rows, run states, streamed text) that are not answers to anything.
// Everything here is structured-cloneable (no classes, no GPU objects).

import type {
  DataTask,
  FieldMapping,
  PreviewRow,
  SchemaId,
  SplitSummary,
  TableFormat,
  ValidationReport,
} from '../data/index';
import type { ExportFormat } from '../export/index';
import type { MergedDtype } from '../export/tensorCodec';
import type { GpuInfo } from '../gpu/context';
import type { LlamaConfig } from '../model/config';
import type { PresetSizes } from '../model/memory';
import type { BaseQuant } from '../model/weights';
import type { MetricsRecord } from '../train/metrics';
import type { TaskResult } from '../train/evaluateTasks';
import type { TrainSettings } from '../train/settings';
import type { EvalExample } from '../data/tasks';

export interface SelfTestResult {
  /** The small product shown on the page: [[1,2,3],[4,5,6]]·[[7,8],[9,10],[11,12]]. */
  small: number[];
  /** A random product at awkward sizes checked against the float64 reference. */
  shape: [number, number, number];
  maxAbsError: number;
  bound: number;
  pass: boolean;
  kernel: string;
  ms: number;
}

/** Where a model comes from: a curated preset or any repository on the Hub (downloaded and cached), or files. */
export type ModelSource =
  | { kind: 'preset'; presetId: string }
  | { kind: 'hub'; repo: string; revision?: string }
  /** Local files the user picked: one .gguf; a llama2.c .bin with its tokenizer.bin; or config.json + *.safetensors + tokenizer.json. */
  | { kind: 'files'; files: File[] };

export interface ModelSummary {
  /** What the user picked, in words (preset label, repo id, file name). */
  label: string;
  format: 'gguf' | 'llama2c' | 'hf';
  config: LlamaConfig;
  parameters: number;
  quant: BaseQuant;
  /** The file stores quantized weights (Q8_0, Q4_0, Q4_K, Q6_K): a merged export dequantizes and requantizes. */
  storedQuantized: boolean;
  /** GPU bytes the weights took. */
  weightBytes: number;
  hasChatTemplate: boolean;
  /** The model's chat template (Jinja), for the dataset templating. */
  chatTemplate: string | null;
  /** A short, stable identity (label + config) stored with each run, to warn when a run meets another model. */
  fingerprint: string;
}

/** A task as training and evaluation take it: examples already mapped to prompt/completion (src/data). */
export interface TaskInput {
  name: string;
  examples: EvalExample[];
}

export interface TrainRequest {
  runId: string;
  settings: TrainSettings;
  tasks: TaskInput[];
  /** Continue from the run's checkpoint (after a pause that outlived the page, a stop, or a lost device). */
  resume: boolean;
}

export interface TrainOutcome {
  runId: string;
  /** Iterations completed. */
  iteration: number;
  /** done: all iterations ran; stopped: the user stopped it (a checkpoint holds where it got to). */
  status: 'done' | 'stopped';
  resumedFrom: number | null;
}

export type RunControl = 'pause' | 'resume' | 'stop';

export interface EvaluateRequest {
  /** The trained run whose adapter to use, or null for the base model. */
  runId: string | null;
  settings: TrainSettings;
  tasks: TaskInput[];
  /** Answer metrics (greedy decoding) and choice accuracy besides the loss. */
  accuracy: boolean;
  /** Also score each task after test-time adaptation (the run's inner steps on k training examples). */
  adapt: boolean;
}

export interface GenerateRequest {
  /** The run whose adapter to apply, or null for the base model. */
  runId: string | null;
  /** MTL-LoRA's task id (index into the run's tasks); ignored otherwise. */
  task: number;
  /**
   * Adapt the run's adapter to this task first (test-time adaptation: the run's inner steps on k examples of
   * its training pool, or of the task itself when the run never trained on it).
   */
  adaptTo?: TaskInput;
  prompt: string;
  maxNewTokens: number;
  /** Sampling (src/model/sampling.ts); omitted temperature or 0 is greedy. Seed omitted: a random one. */
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
}

export interface GenerateOutcome {
  text: string;
  tokens: number;
  ms: number;
}

export interface ExportRequest {
  runId: string;
  format: ExportFormat;
  /** MTL-LoRA: the task to export (required for merged formats; all tasks otherwise). */
  task?: string;
  /** Merged formats: the stored precision (GGUF F32/F16/Q8_0, safetensors F32/F16/BF16); a default per base. */
  dtype?: MergedDtype;
  /** The run's curves and data counts, for the training report. */
  metrics: MetricsRecord[];
  dataCounts: Record<string, { train: number; eval: number }>;
  /** pytorch: the run's tasks as it trained on them (its snapshot), split and tokenized again in the worker. */
  tasks?: TaskInput[];
}

export interface ExportOutcome {
  /**
   * What to save: a zip of everything (the training report included) and, when the export is one model file
   * (a GGUF adapter or merged GGUF), that file on its own too.
   */
  downloads: { name: string; bytes: Uint8Array }[];
  /** The files inside, with their sizes. */
  files: { name: string; bytes: number }[];
  /** What the user should know (e.g. a quantized base was dequantized, merged and requantized). */
  notes: string[];
}

/** Read one dataset file into tasks (src/data): detected mapping, or the user's edited one, or a picked schema. */
export interface DatasetRequest {
  fileName: string;
  bytes: Uint8Array;
  mapping?: FieldMapping;
  schema?: SchemaId;
  /** CSV/TSV: the first record is a header (default: guessed). */
  header?: boolean;
  duplicates: 'drop' | 'keep';
  /** With a model loaded: the longest example in tokens, and what to do with longer ones. */
  maxLength: number;
  lengthPolicy: 'truncate' | 'skip';
}

export interface DatasetResult {
  format: TableFormat;
  header: boolean;
  columns: string[];
  mapping: FieldMapping;
  preview: PreviewRow[];
  tasks: DataTask[];
  report: ValidationReport;
}

export type Request =
  | { id: number; type: 'probe' }
  | { id: number; type: 'selfTest' }
  | { id: number; type: 'loadModel'; source: ModelSource; quant: BaseQuant; hubEndpoint?: string }
  | { id: number; type: 'readDataset'; spec: DatasetRequest }
  | { id: number; type: 'train'; spec: TrainRequest }
  | { id: number; type: 'control'; runId: string; action: RunControl }
  | { id: number; type: 'evaluate'; spec: EvaluateRequest }
  | { id: number; type: 'generate'; spec: GenerateRequest }
  | { id: number; type: 'export'; spec: ExportRequest }
  | { id: number; type: 'deleteRun'; runId: string }
  | { id: number; type: 'memory' }
  /** How each task divides into training pool and held-out set under these settings (the training's own split). */
  | { id: number; type: 'splitTasks'; tasks: TaskInput[]; settings: TrainSettings }
  /** A curated preset's download size and GPU memory with this base quantization. */
  | { id: number; type: 'presetSizes'; presetId: string; quant: BaseQuant };

export type GpuProbe = GpuInfo & { kernels: Record<string, string> };

/** Result type of each request. */
export interface Results {
  /** The adapter, and the kernel variant each family runs on it (measured once per GPU; src/ops/tuning.ts). */
  probe: GpuProbe;
  selfTest: SelfTestResult;
  loadModel: ModelSummary;
  readDataset: DatasetResult;
  train: TrainOutcome;
  control: null;
  evaluate: TaskResult[];
  generate: GenerateOutcome;
  export: ExportOutcome;
  deleteRun: null;
  memory: { inUseBytes: number; peakBytes: number };
  splitTasks: SplitSummary[];
  presetSizes: PresetSizes;
}

export type { ExportFormat };

export type RequestOf<T extends keyof Results> = Omit<Extract<Request, { type: T }>, 'id' | 'type'>;

export type EngineEvent =
  /** Long work: downloading and loading a model, evaluating. total null when unknown. */
  | { kind: 'progress'; phase: 'download' | 'load' | 'evaluate'; label: string; done: number; total: number | null }
  /** Metrics rows of a run as they are produced (restored: replayed from the checkpoint on resume). */
  | { kind: 'metrics'; runId: string; rows: MetricsRecord[]; restored: boolean; gpuBytes: number }
  | { kind: 'runState'; runId: string; state: 'running' | 'paused'; iteration: number }
  /** Generated text so far, for the request with this id. */
  | { kind: 'text'; requestId: number; text: string }
  /** The GPU device was lost: everything on it is gone; the model must be loaded again (runs resume). */
  | { kind: 'deviceLost'; message: string };

export type Response =
  | { id: number; type: 'result'; result: Results[keyof Results] }
  | { id: number; type: 'error'; error: { name: string; message: string } }
  | { type: 'event'; event: EngineEvent };
