// A resumable training checkpoint: the adapter's parameters, AdamW's moments and step, the RNG and sampler
// states, the iteration reached, the settings and the metrics so far. Tensors go into one safetensors file
// (f32, exact), everything else into one JSON document; both carry the same random id so that a pair that
// does not belong together (a save interrupted between its two writes) is refused instead of resumed wrongly.

import type { GpuContext } from '../gpu/context';
import type { Tensor } from '../gpu/tensor';
import { memorySource } from '../io/byteSource';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import type { SamplerState } from './episodes';
import type { MetricsRecord } from './metrics';
import type { RngState } from '../util/rng';
import type { TrainSettings } from './settings';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface Checkpoint {
  /** Iterations completed; training resumes with the next one. */
  iteration: number;
  settings: TrainSettings;
  /** Tasks in training order with their pool sizes: resuming with different data is refused. */
  tasks: { name: string; poolSize: number }[];
  /** Adapter parameters in the adapter's order. */
  params: NamedTensor[];
  /** AdamW state: steps taken and the moments, one per parameter in the same order and shape. */
  optimizer: { step: number; m: Float32Array[]; v: Float32Array[] };
  /** RNG streams other than the sampler's (e.g. dropout), by label. */
  rng: Record<string, RngState>;
  sampler: SamplerState;
  metrics: MetricsRecord[];
}

export interface SerializedCheckpoint {
  id: string;
  json: string;
  /** safetensors parts (header, then each tensor's bytes, not copied). */
  tensors: Uint8Array[];
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const FORMAT = 'metalora-checkpoint';
const VERSION = 1;

interface CheckpointJson extends Omit<Checkpoint, 'params' | 'optimizer'> {
  format: typeof FORMAT;
  version: number;
  id: string;
  params: { name: string; shape: number[] }[];
  optimizerStep: number;
}

const bytesOf = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A fresh id per save: the iteration (readable) and 48 random bits (distinct across runs and re-saves). */
function newId(iteration: number): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `${iteration}-${r[0].toString(16).padStart(8, '0')}${(r[1] & 0xffff).toString(16).padStart(4, '0')}`;
}

export function serializeCheckpoint(ck: Checkpoint): SerializedCheckpoint {
  const { params, optimizer } = ck;
  if (optimizer.m.length !== params.length || optimizer.v.length !== params.length) {
    throw new CheckpointError(
      `optimizer state has ${optimizer.m.length}/${optimizer.v.length} moments for ${params.length} parameters`,
    );
  }
  params.forEach((p, i) => {
    const n = numel(p.shape);
    if (p.data.length !== n || optimizer.m[i].length !== n || optimizer.v[i].length !== n) {
      throw new CheckpointError(`${p.name}: parameter, m and v must all hold ${n} values for shape [${p.shape}]`);
    }
  });
  const id = newId(ck.iteration);
  const doc: CheckpointJson = {
    format: FORMAT,
    version: VERSION,
    id,
    iteration: ck.iteration,
    settings: ck.settings,
    tasks: ck.tasks,
    params: params.map((p) => ({ name: p.name, shape: p.shape })),
    optimizerStep: optimizer.step,
    rng: ck.rng,
    sampler: ck.sampler,
    metrics: ck.metrics,
  };
  const tensors = params.flatMap((p, i) => [
    { name: `param/${p.name}`, dtype: 'F32' as const, shape: p.shape, data: bytesOf(p.data) },
    { name: `adam_m/${p.name}`, dtype: 'F32' as const, shape: p.shape, data: bytesOf(optimizer.m[i]) },
    { name: `adam_v/${p.name}`, dtype: 'F32' as const, shape: p.shape, data: bytesOf(optimizer.v[i]) },
  ]);
  return { id, json: JSON.stringify(doc), tensors: writeSafetensors(tensors, { format: FORMAT, checkpoint_id: id }) };
}

/** The id a checkpoint JSON names (storage backends use it to find the matching tensors file). */
export function checkpointIdOf(json: string): string {
  let doc: Partial<CheckpointJson>;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new CheckpointError(`checkpoint JSON is not valid JSON: ${(e as Error).message}`);
  }
  if (doc?.format !== FORMAT || typeof doc.id !== 'string' || !/^[0-9]+-[0-9a-f]+$/.test(doc.id)) {
    throw new CheckpointError('not a MetaLoRA checkpoint (format or id missing)');
  }
  return doc.id;
}

export async function deserializeCheckpoint(json: string, tensorBytes: Uint8Array): Promise<Checkpoint> {
  const id = checkpointIdOf(json);
  const doc = JSON.parse(json) as CheckpointJson;
  if (doc.version !== VERSION)
    throw new CheckpointError(`checkpoint version ${doc.version} is not supported (expected ${VERSION})`);
  checkDocument(doc);
  const file = await readSafetensors(memorySource(tensorBytes, 'checkpoint tensors'));
  if (file.metadata.checkpoint_id !== id) {
    throw new CheckpointError(
      `checkpoint tensors belong to save ${file.metadata.checkpoint_id ?? '(none)'}, not ${id}: ` +
        'the pair is from different saves',
    );
  }
  const byName = new Map(file.tensors.map((t) => [t.name, t]));
  const take = (name: string, shape: number[]): Float32Array => {
    const t = byName.get(name);
    if (!t) throw new CheckpointError(`checkpoint tensors lack ${name}`);
    if (t.dtype !== 'F32' || t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new CheckpointError(`${name} is ${t.dtype} [${t.shape}], expected F32 [${shape}]`);
    }
    return new Float32Array(tensorBytes.slice(t.offset, t.offset + t.byteLength).buffer);
  };
  const params = doc.params.map((p) => ({ name: p.name, shape: p.shape, data: take(`param/${p.name}`, p.shape) }));
  const m = doc.params.map((p) => take(`adam_m/${p.name}`, p.shape));
  const v = doc.params.map((p) => take(`adam_v/${p.name}`, p.shape));
  return {
    iteration: doc.iteration,
    settings: doc.settings,
    tasks: doc.tasks,
    params,
    optimizer: { step: doc.optimizerStep, m, v },
    rng: doc.rng,
    sampler: doc.sampler,
    metrics: doc.metrics,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
const isWord = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff;
const isRngState = (v: unknown) => Array.isArray(v) && v.length === 4 && v.every(isWord);
const isOrder = (o: unknown) =>
  isObject(o) && Array.isArray(o.order) && o.order.every(isCount) && isCount(o.cursor) && Number.isSafeInteger(o.epoch);

/**
 * Every field resuming reads, of the kind it expects: a damaged or hand-edited checkpoint.json is refused here,
 * naming the field, instead of failing halfway through restoring a run.
 */
function checkDocument(doc: CheckpointJson): void {
  const fields: [string, boolean][] = [
    ['iteration', isCount(doc.iteration)],
    ['optimizerStep', isCount(doc.optimizerStep)],
    ['settings', isObject(doc.settings)],
    [
      'tasks',
      Array.isArray(doc.tasks) &&
        doc.tasks.every((t) => isObject(t) && typeof t.name === 'string' && isCount(t.poolSize)),
    ],
    [
      'params',
      Array.isArray(doc.params) &&
        doc.params.every(
          (p) => isObject(p) && typeof p.name === 'string' && Array.isArray(p.shape) && p.shape.every(isCount),
        ),
    ],
    ['rng', isObject(doc.rng) && Object.values(doc.rng).every(isRngState)],
    [
      'sampler',
      isObject(doc.sampler) &&
        typeof doc.sampler.kind === 'string' &&
        isRngState(doc.sampler.rng) &&
        Array.isArray(doc.sampler.orders) &&
        doc.sampler.orders.every(isOrder),
    ],
    ['metrics', Array.isArray(doc.metrics) && doc.metrics.every(isObject)],
  ];
  const bad = fields.filter(([, ok]) => !ok).map(([name]) => name);
  if (bad.length)
    throw new CheckpointError(
      `checkpoint JSON is damaged: ${bad.join(', ')} ${bad.length > 1 ? 'are' : 'is'} missing or malformed`,
    );
}

/** Reads GPU tensors back as named host tensors (one readback each; only at checkpoint time). */
export async function readNamedTensors(
  ctx: GpuContext,
  names: readonly string[],
  tensors: readonly Tensor<'f32'>[],
): Promise<NamedTensor[]> {
  if (names.length !== tensors.length) throw new CheckpointError(`${names.length} names for ${tensors.length} tensors`);
  const out: NamedTensor[] = [];
  for (let i = 0; i < tensors.length; i++)
    out.push({ name: names[i], shape: [...tensors[i].shape], data: await ctx.read(tensors[i]) });
  return out;
}

/** Writes host data into existing GPU tensors (resume), after checking names and shapes match one to one. */
export function writeNamedTensors(
  ctx: GpuContext,
  names: readonly string[],
  tensors: readonly Tensor<'f32'>[],
  values: readonly NamedTensor[],
): void {
  if (values.length !== tensors.length || names.length !== tensors.length) {
    throw new CheckpointError(
      `checkpoint has ${values.length} tensors, the adapter ${tensors.length}: different adapter settings?`,
    );
  }
  values.forEach((v, i) => {
    const shape = tensors[i].shape;
    if (v.name !== names[i] || v.shape.length !== shape.length || v.shape.some((d, j) => d !== shape[j])) {
      throw new CheckpointError(
        `checkpoint tensor ${v.name} [${v.shape}] does not match the adapter's ${names[i]} [${shape}]`,
      );
    }
  });
  values.forEach((v, i) => ctx.writeTensor(tensors[i], v.data));
}
