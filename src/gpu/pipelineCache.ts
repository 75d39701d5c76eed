// Compute pipelines keyed by shader source, entry point and override constants. Compiling WGSL costs
// milliseconds to seconds (SwiftShader JIT), so each distinct specialisation is built once per device.
// `get` builds synchronously on a miss, which blocks the thread for the compile. Warming avoids that: while
// `deferring` (the context's `warmPipelines`, a dry run of the work to come), a miss starts
// createComputePipelineAsync and returns a stand-in that only a dry run may see (it carries the label the
// dispatch counters read); `settle()` then waits for every started pipeline and caches it.

export type OverrideConstants = Record<string, number | boolean>;

/** Per shader source: its module and its pipelines keyed by entry point and constants. */
interface ShaderEntry {
  module: GPUShaderModule;
  pipelines: Map<string, GPUComputePipeline>;
  /** Pipelines being built asynchronously, with the stand-ins handed out meanwhile. */
  pending: Map<string, { standIn: GPUComputePipeline; built: Promise<GPUComputePipeline> }>;
}

export class PipelineCache {
  // Keyed by the source string itself: sources are module constants, whose hash V8 computes once, so a
  // lookup per dispatch costs no string building over kilobytes of WGSL.
  private shaders = new Map<string, ShaderEntry>();
  private count = 0;
  private started: Promise<unknown>[] = [];
  /** Misses start an asynchronous build and return a stand-in (for a dry run only). */
  deferring = false;

  constructor(private device: GPUDevice) {}

  /** Number of distinct pipelines built. */
  get size(): number {
    return this.count;
  }

  get(code: string, constants: OverrideConstants = {}, entryPoint = 'main'): GPUComputePipeline {
    let shader = this.shaders.get(code);
    if (!shader) {
      shader = {
        module: this.device.createShaderModule({ code, label: labelOf(code) }),
        pipelines: new Map(),
        pending: new Map(),
      };
      this.shaders.set(code, shader);
    }
    const constKey = Object.keys(constants)
      .sort()
      .map((k) => `${k}=${+constants[k]}`)
      .join(',');
    const key = `${entryPoint}|${constKey}`;
    const cached = shader.pipelines.get(key);
    if (cached) return cached;
    const label = `${labelOf(code)}:${entryPoint}(${constKey})`;
    const numeric: Record<string, number> = {};
    for (const [k, v] of Object.entries(constants)) numeric[k] = +v;
    const descriptor: GPUComputePipelineDescriptor = {
      label,
      layout: 'auto',
      compute: { module: shader.module, entryPoint, constants: numeric },
    };
    const pending = shader.pending.get(key);
    if (this.deferring) {
      if (pending) return pending.standIn;
      const entry = shader;
      const built = this.device.createComputePipelineAsync(descriptor).then((pipeline) => {
        if (!entry.pipelines.has(key)) this.add(entry, key, pipeline);
        entry.pending.delete(key);
        return pipeline;
      });
      const standIn = { label } as GPUComputePipeline;
      shader.pending.set(key, { standIn, built });
      this.started.push(built);
      return standIn;
    }
    // Needed now (no one awaited the warm-up): build it here; the asynchronous one, if any, is dropped.
    const pipeline = this.device.createComputePipeline(descriptor);
    this.add(shader, key, pipeline);
    return pipeline;
  }

  /** Waits for every pipeline started while deferring; returns how many were started. Rejects on a build error. */
  async settle(): Promise<number> {
    const started = this.started;
    this.started = [];
    await Promise.all(started);
    return started.length;
  }

  private add(shader: ShaderEntry, key: string, pipeline: GPUComputePipeline): void {
    shader.pipelines.set(key, pipeline);
    this.count++;
  }
}

/** A shader's label is the kernel name its first comment line opens with (`// name: rope: …` or `// rope: …`). */
export function labelOf(code: string): string {
  const m = /^\s*\/\/\s*(?:name:\s*)?([\w-]+)/m.exec(code);
  return m ? m[1] : 'shader';
}
