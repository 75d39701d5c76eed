// Compute pipelines keyed by shader source, entry point and override constants. Compiling WGSL costs
// milliseconds to seconds (SwiftShader JIT), so each distinct specialisation is built once per device.

export type OverrideConstants = Record<string, number | boolean>;

/** Per shader source: its module and its pipelines keyed by entry point and constants. */
interface ShaderEntry {
  module: GPUShaderModule;
  pipelines: Map<string, GPUComputePipeline>;
}

export class PipelineCache {
  // Keyed by the source string itself: sources are module constants, whose hash V8 computes once, so a
  // lookup per dispatch costs no string building over kilobytes of WGSL.
  private shaders = new Map<string, ShaderEntry>();
  private count = 0;

  constructor(private device: GPUDevice) {}

  /** Number of distinct pipelines built. */
  get size(): number {
    return this.count;
  }

  get(code: string, constants: OverrideConstants = {}, entryPoint = 'main'): GPUComputePipeline {
    let shader = this.shaders.get(code);
    if (!shader) {
      shader = { module: this.device.createShaderModule({ code, label: labelOf(code) }), pipelines: new Map() };
      this.shaders.set(code, shader);
    }
    const constKey = Object.keys(constants).sort().map((k) => `${k}=${+constants[k]}`).join(',');
    const key = `${entryPoint}|${constKey}`;
    let pipeline = shader.pipelines.get(key);
    if (!pipeline) {
      const numeric: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants)) numeric[k] = +v;
      pipeline = this.device.createComputePipeline({
        label: `${labelOf(code)}:${entryPoint}(${constKey})`,
        layout: 'auto',
        compute: { module: shader.module, entryPoint, constants: numeric },
      });
      shader.pipelines.set(key, pipeline);
      this.count++;
    }
    return pipeline;
  }
}

/** A shader's label is the kernel name its first comment line opens with (`// name: rope: …` or `// rope: …`). */
export function labelOf(code: string): string {
  const m = /^\s*\/\/\s*(?:name:\s*)?([\w-]+)/m.exec(code);
  return m ? m[1] : 'shader';
}
