// The one GPU context everything uses: device with the adapter's full limits and optional features,
// pipeline cache, buffer pool, batched command submission, typed readback and device-lost detection.

import { findAdapter } from './adapter';
import { BindGroupCache } from './bindGroupCache';
import { BufferPool } from './bufferPool';
import { KernelChoices } from './kernelChoice';
import { DeviceLostError, GpuLimitError, GpuValidationError } from './errors';
import { type OverrideConstants, PipelineCache } from './pipelineCache';
import { type DType, Tensor, type TypedArrayOf, BYTES_PER_ELEMENT, numel } from './tensor';

/** Limits we ask for at the adapter's maximum: big models need big buffers and bindings. */
const REQUESTED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxUniformBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
] as const;

const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'timestamp-query'] as const;

export interface GpuInfo {
  runtime: 'browser' | 'dawn';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU implementation (SwiftShader, WARP, llvmpipe): kernels are chosen for it. */
  isSoftware: boolean;
  limits: Record<string, number>;
  features: string[];
}

/** Storage buffers are also copy source/destination so they can be uploaded, read back and cloned. */
const STORAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST (GPUBufferUsage may not be global yet)
const UNIFORM = 0x40 | 0x8; // UNIFORM | COPY_DST
const READBACK = 0x1 | 0x8; // MAP_READ | COPY_DST
/** Dispatches recorded before an automatic submit, so long sequences start running early. */
const MAX_DISPATCHES_PER_SUBMIT = 256;
/** Each dispatch's uniforms get one slot of the arena: minUniformBufferOffsetAlignment is at most 256. */
const UNIFORM_SLOT = 256;

/**
 * What the context has recorded since the last `resetStats()`: the costs a browser pays per command, which
 * dominate when kernels are small (each dispatch costs 5–15 µs of API and validation time).
 */
export interface GpuStats {
  dispatches: number;
  /** Dispatches per kernel (the shader's name, plus the entry point when it is not `main`). */
  byKernel: Map<string, number>;
  /** Compute passes begun: a buffer copy or a readback ends the open one. */
  passes: number;
  /** Buffer-to-buffer copies recorded (`copy`), readback copies excluded. */
  copies: number;
  submits: number;
  readbacks: number;
  /** Bind groups created: the cache (bindGroupCache.ts) misses. A dry run counts what a real run would create. */
  bindGroups: number;
}

function emptyStats(): GpuStats {
  return { dispatches: 0, byKernel: new Map(), passes: 0, copies: 0, submits: 0, readbacks: 0, bindGroups: 0 };
}

export class GpuContext {
  readonly pipelines: PipelineCache;
  readonly pool: BufferPool;
  readonly bindGroups: BindGroupCache;
  /** Which variant of each kernel family runs here (kernelChoice.ts): measured, forced or each op's default. */
  readonly kernels = new KernelChoices();
  /** Resolves when the device is lost; never rejects. */
  readonly lost: Promise<DeviceLostError>;
  private lostError: DeviceLostError | null = null;
  /** The first uncaptured WebGPU error since the last check; thrown by the next sync or read. */
  private pendingError: GpuValidationError | null = null;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatchesInBatch = 0;
  /**
   * Uniforms of the open batch are staged on the host and written into one arena buffer just before the
   * batch is submitted. Queue order makes reusing the arena safe: the write lands after earlier batches ran.
   */
  private uniformArena: GPUBuffer | null = null;
  private uniformStaging = new Uint8Array(UNIFORM_SLOT * MAX_DISPATCHES_PER_SUBMIT);
  private uniformSlots = 0;
  private counters = emptyStats();
  private dryRun = false;

  private constructor(
    readonly device: GPUDevice,
    readonly info: GpuInfo,
    /** Held so the implementation (Dawn's instance in Node) lives as long as the device. */
    readonly gpu: GPU,
    readonly adapter: GPUAdapter,
  ) {
    this.pipelines = new PipelineCache(device);
    this.bindGroups = new BindGroupCache(device);
    this.pool = new BufferPool(device, device.limits.maxBufferSize, undefined, (b) => this.bindGroups.forget(b));
    this.lost = device.lost.then((i) => (this.lostError = new DeviceLostError(i.reason ?? 'unknown', i.message)));
    device.addEventListener('uncapturederror', (event) => {
      const error = (event as GPUUncapturedErrorEvent).error;
      this.pendingError ??= new GpuValidationError(`WebGPU error: ${error.message}`);
    });
  }

  static async create(options: { powerPreference?: GPUPowerPreference } = {}): Promise<GpuContext> {
    const { adapter, gpu, runtime } = await findAdapter(options.powerPreference);
    const requiredLimits: Record<string, number> = {};
    for (const name of REQUESTED_LIMITS)
      requiredLimits[name] = (adapter.limits as unknown as Record<string, number>)[name];
    const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
    const device = await adapter.requestDevice({ requiredLimits, requiredFeatures, label: 'metalora' });
    const a = adapter.info;
    const limits: Record<string, number> = {};
    for (const name of REQUESTED_LIMITS) limits[name] = (device.limits as unknown as Record<string, number>)[name];
    const descr = `${a.vendor} ${a.architecture} ${a.device} ${a.description}`.toLowerCase();
    const info: GpuInfo = {
      runtime,
      vendor: a.vendor,
      architecture: a.architecture,
      device: a.device,
      description: a.description,
      isSoftware:
        !!(a as { isFallbackAdapter?: boolean }).isFallbackAdapter || /swiftshader|llvmpipe|warp|lavapipe/.test(descr),
      limits,
      features: [...device.features].sort(),
    };
    return new GpuContext(device, info, gpu, adapter);
  }

  /** Short human name of the adapter, used in logs and benchmark result files. */
  get adapterName(): string {
    const i = this.info;
    return [i.vendor, i.architecture, i.description].filter(Boolean).join(' ').trim() || 'unknown adapter';
  }

  has(feature: (typeof OPTIONAL_FEATURES)[number]): boolean {
    return this.device.features.has(feature);
  }

  /** Throws the DeviceLostError if the device is gone, so work fails fast with an actionable error. */
  checkAlive(): void {
    if (this.lostError) throw this.lostError;
  }

  /** Throws (once) the first WebGPU error reported since the last check. */
  private checkErrors(): void {
    const error = this.pendingError;
    this.pendingError = null;
    if (error) throw error;
  }

  /** Counts since the last reset (a live object: copy what you keep). */
  get stats(): GpuStats {
    return this.counters;
  }

  resetStats(): void {
    this.counters = emptyStats();
  }

  /**
   * Record-only mode, for counting and memory planning at shapes too big to run (a 30-layer model on a CPU
   * adapter): dispatches and copies are checked and counted but not encoded, host writes still land, and
   * readbacks return zeros. Buffers are allocated as usual, so the pool's peak is the real one. Pending
   * work is submitted before the mode changes.
   */
  setDryRun(on: boolean): void {
    this.flush();
    this.dryRun = on;
  }

  get isDryRun(): boolean {
    return this.dryRun;
  }

  // --- tensors ---

  tensor<D extends DType = 'f32'>(shape: readonly number[], dtype: D = 'f32' as D, label?: string): Tensor<D> {
    this.checkAlive();
    const bytes = Math.max(4, numel(shape) * BYTES_PER_ELEMENT[dtype]);
    const maxBinding = this.device.limits.maxStorageBufferBindingSize;
    if (bytes > maxBinding) {
      throw new GpuLimitError(
        `Tensor [${shape.join(', ')}] needs ${bytes} bytes, over this GPU's ` +
          `maxStorageBufferBindingSize (${maxBinding}).`,
      );
    }
    const buffer = this.pool.acquire(bytes, STORAGE, label);
    return new Tensor(buffer, shape, dtype, (b) => this.pool.release(b));
  }

  upload<D extends DType = 'f32'>(data: TypedArrayOf<D>, shape: readonly number[], dtype: D = 'f32' as D): Tensor<D> {
    if (data.length !== numel(shape)) throw new Error(`upload: ${data.length} values for shape [${shape}]`);
    const t = this.tensor(shape, dtype);
    this.write(t.buffer, data);
    return t;
  }

  /** Host → GPU copy of a whole tensor (a pack's view included). */
  writeTensor(t: Tensor, data: ArrayBufferView): void {
    if (data.byteLength !== t.byteLength)
      throw new Error(`writeTensor: ${data.byteLength} bytes for a ${t.byteLength}-byte tensor`);
    this.write(t.buffer, data, t.offset);
  }

  /** Host → GPU copy. Pending commands are submitted first so they see the buffer's previous contents. */
  write(buffer: GPUBuffer, data: ArrayBufferView, offsetBytes = 0): void {
    this.checkAlive();
    this.flush();
    const padded = data.byteLength % 4 ? padTo4(data) : data;
    this.device.queue.writeBuffer(buffer, offsetBytes, padded.buffer, padded.byteOffset, padded.byteLength);
  }

  /** GPU → host copy of a whole tensor, typed by its dtype. */
  async read<D extends DType>(t: Tensor<D>): Promise<TypedArrayOf<D>> {
    const bytes = await this.readBytes(t.buffer, t.byteLength, t.offset);
    const ctor = t.dtype === 'f32' ? Float32Array : t.dtype === 'u32' ? Uint32Array : Int32Array;
    return new ctor(bytes) as TypedArrayOf<D>;
  }

  async readBytes(buffer: GPUBuffer, byteLength: number, offsetBytes = 0): Promise<ArrayBuffer> {
    this.checkAlive();
    this.counters.readbacks++;
    if (this.dryRun) {
      this.flush(); // as a real readback does, so batches stay aligned with a real run's
      return new ArrayBuffer(byteLength);
    }
    const staging = this.pool.acquire(byteLength, READBACK, 'readback');
    const enc = this.commandEncoder();
    this.endPass();
    enc.copyBufferToBuffer(buffer, offsetBytes, staging, 0, alignUp(byteLength, 4));
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, alignUp(byteLength, 4));
    } catch (e) {
      await Promise.race([this.lost, new Promise((r) => setTimeout(r, 50))]);
      this.checkAlive();
      throw e;
    }
    const out = staging.getMappedRange(0, alignUp(byteLength, 4)).slice(0, byteLength);
    staging.unmap();
    this.pool.release(staging);
    this.checkErrors();
    return out;
  }

  // --- dispatch ---

  /** Uniform data (at most 256 bytes) for one dispatch of the current batch. */
  uniform(data: ArrayBufferView): GPUBufferBinding {
    if (data.byteLength > UNIFORM_SLOT) throw new Error(`uniform: ${data.byteLength} bytes, at most ${UNIFORM_SLOT}`);
    this.uniformArena ??= this.device.createBuffer({
      size: this.uniformStaging.byteLength,
      usage: UNIFORM,
      label: 'uniforms',
    });
    // A dry run takes slots as a real run does (the slot offset is part of a bind group's cache key), though
    // nothing will read them.
    if (this.uniformSlots === MAX_DISPATCHES_PER_SUBMIT) this.flush();
    const offset = this.uniformSlots++ * UNIFORM_SLOT;
    if (!this.dryRun) this.uniformStaging.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), offset);
    return { buffer: this.uniformArena, offset, size: alignUp(data.byteLength, 16) };
  }

  pipeline(code: string, constants?: OverrideConstants, entryPoint?: string): GPUComputePipeline {
    return this.pipelines.get(code, constants, entryPoint);
  }

  /**
   * Builds, asynchronously, every pipeline `record` asks for: `record` runs in a dry run (so nothing executes
   * and its counts do not enter `stats`), the pipelines it misses are created with createComputePipelineAsync
   * (compiled off the calling thread where the implementation can), and the promise resolves once all are
   * cached, with how many were built. Warming the work of a training step keeps its first dispatch from
   * stalling on synchronous compiles. `record` must release what it allocates.
   */
  async warmPipelines(record: () => void): Promise<number> {
    const wasDry = this.dryRun;
    const counters = this.counters;
    this.setDryRun(true);
    this.counters = emptyStats();
    this.pipelines.deferring = true;
    try {
      record();
    } finally {
      this.pipelines.deferring = false;
      this.counters = counters;
      this.setDryRun(wasDry);
    }
    return this.pipelines.settle();
  }

  /**
   * Records one dispatch into the open batch. `bindings` are bound in order to @group(0) @binding(0..n-1).
   * Workgroup counts are checked against the adapter's limit before anything reaches the GPU.
   */
  dispatch(pipeline: GPUComputePipeline, bindings: Binding[], workgroups: [number, number?, number?]): void {
    this.checkAlive();
    const [x, y = 1, z = 1] = workgroups;
    const maxWg = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > maxWg || y > maxWg || z > maxWg) {
      throw new GpuLimitError(
        `Dispatch of ${x}×${y}×${z} workgroups exceeds this GPU's limit of ${maxWg} per dimension.`,
      );
    }
    if (x === 0 || y === 0 || z === 0) return;
    const c = this.counters;
    c.dispatches++;
    const kernel = kernelName(pipeline);
    c.byKernel.set(kernel, (c.byKernel.get(kernel) ?? 0) + 1);
    const { group, created } = this.bindGroups.get(pipeline, bindings.map(asBinding), !this.dryRun);
    if (created) c.bindGroups++;
    if (this.dryRun) {
      // Batches end where a real run's would, so uniform slots (and so bind group keys) match it.
      if (++this.dispatchesInBatch >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
      return;
    }
    if (!this.pass) {
      this.pass = this.commandEncoder().beginComputePass();
      c.passes++;
    }
    this.pass.setPipeline(pipeline);
    this.pass.setBindGroup(0, group);
    this.pass.dispatchWorkgroups(x, y, z);
    if (++this.dispatchesInBatch >= MAX_DISPATCHES_PER_SUBMIT) this.flush();
  }

  /** Copies `bytes` between buffers (offsets in bytes, multiples of 4) in stream order with the dispatches around it. */
  copy(src: GPUBuffer | Tensor, dst: GPUBuffer | Tensor, bytes: number, srcOffset = 0, dstOffset = 0): void {
    this.checkAlive();
    this.counters.copies++;
    if (this.dryRun) return;
    const enc = this.commandEncoder();
    this.endPass();
    const [from, at] = src instanceof Tensor ? [src.buffer, src.offset + srcOffset] : [src, srcOffset];
    const [to, into] = dst instanceof Tensor ? [dst.buffer, dst.offset + dstOffset] : [dst, dstOffset];
    enc.copyBufferToBuffer(from, at, to, into, bytes);
  }

  /** Submits everything recorded so far. Cheap when nothing is pending. */
  flush(): void {
    if (this.encoder) {
      this.endPass();
      if (this.uniformSlots) {
        this.device.queue.writeBuffer(this.uniformArena!, 0, this.uniformStaging, 0, this.uniformSlots * UNIFORM_SLOT);
      }
      this.device.queue.submit([this.encoder.finish()]);
      this.counters.submits++;
      this.encoder = null;
    }
    // Without an encoder nothing recorded reads the slots (a dry run, or uniforms of empty dispatches).
    this.uniformSlots = 0;
    this.dispatchesInBatch = 0;
  }

  /** Submits and waits until the GPU has finished all work. */
  async sync(): Promise<void> {
    this.flush();
    await Promise.race([this.device.queue.onSubmittedWorkDone(), this.lost]);
    this.checkAlive();
    this.checkErrors();
  }

  destroy(): void {
    this.encoder = null;
    this.pass = null;
    this.pool.trim();
    this.device.destroy();
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }
}

/** A pipeline's kernel name for the stats: its label up to the constants, less the entry point `main`. */
function kernelName(pipeline: GPUComputePipeline): string {
  const label = pipeline.label || 'unlabelled';
  return label.replace(/\(.*$/, '').replace(/:main$/, '');
}

export type Binding = GPUBuffer | Tensor | GPUBufferBinding;

function asBinding(b: Binding): GPUBufferBinding {
  if (b instanceof Tensor) return { buffer: b.buffer, offset: b.offset, size: Math.max(4, b.byteLength) };
  return 'buffer' in b ? b : { buffer: b };
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

function padTo4(data: ArrayBufferView): Uint8Array {
  const out = new Uint8Array(alignUp(data.byteLength, 4));
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return out;
}
