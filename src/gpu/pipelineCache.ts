// Compute pipelines keyed by shader source, entry point and override constants. Compiling WGSL costs
// milliseconds to seconds (SwiftShader JIT), so each distinct specialisation is built once per device.

export type OverrideConstants = Record<string, number | boolean>;

export class PipelineCache {
  private pipelines = new Map<string, GPUComputePipeline>();
  private modules = new Map<string, GPUShaderModule>();

  constructor(private device: GPUDevice) {}

  get size(): number {
    return this.pipelines.size;
  }

  get(code: string, constants: OverrideConstants = {}, entryPoint = 'main'): GPUComputePipeline {
    const constKey = Object.keys(constants).sort().map((k) => `${k}=${+constants[k]}`).join(',');
    const key = `${entryPoint}|${constKey}|${code}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(code);
      if (!module) {
        module = this.device.createShaderModule({ code, label: labelOf(code) });
        this.modules.set(code, module);
      }
      const numeric: Record<string, number> = {};
      for (const [k, v] of Object.entries(constants)) numeric[k] = +v;
      pipeline = this.device.createComputePipeline({
        label: `${labelOf(code)}:${entryPoint}(${constKey})`,
        layout: 'auto',
        compute: { module, entryPoint, constants: numeric },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }
}

/** A shader's label is its first comment line, which by convention names the kernel. */
function labelOf(code: string): string {
  const m = /^\s*\/\/\s*(.+)$/m.exec(code);
  return m ? m[1].slice(0, 60) : 'shader';
}
