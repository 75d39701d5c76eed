// A Vite build check: the page's JavaScript (every chunk of the main build) must hold no engine code — no WGSL
// and no WebGPU pipeline or dispatch calls. The engine runs in the worker, whose bundle Vite builds separately
// (with `worker.plugins`, not this one) and emits into the main build as an asset, so what this plugin sees as
// chunks is exactly what the main thread loads. A stray import from src/ui/ into the engine fails the build,
// naming the chunk and what was found, instead of shipping shaders to the page and stalling it.

import type { Plugin } from 'vite';

/** Text that only engine code contains: WGSL attributes and declarations, WebGPU's compute calls. */
const ENGINE_MARKERS: readonly { name: string; pattern: RegExp }[] = [
  { name: 'WGSL @compute entry point', pattern: /@compute\b/ },
  { name: 'WGSL @workgroup_size', pattern: /@workgroup_size\b/ },
  { name: 'WGSL storage binding (var<storage)', pattern: /var<storage\b/ },
  { name: 'createComputePipeline', pattern: /\bcreateComputePipeline(Async)?\b/ },
  { name: 'beginComputePass', pattern: /\bbeginComputePass\b/ },
  { name: 'dispatchWorkgroups', pattern: /\bdispatchWorkgroups\b/ },
];

/** Names of the engine markers found in `code` (empty when it is page-only code). */
export function engineMarkers(code: string): string[] {
  return ENGINE_MARKERS.filter((m) => m.pattern.test(code)).map((m) => m.name);
}

export function engineOffPage(): Plugin {
  return {
    name: 'engine-off-page',
    apply: 'build',
    generateBundle(_options, bundle) {
      const offenders = Object.values(bundle).flatMap((out) => {
        if (out.type !== 'chunk') return [];
        const found = engineMarkers(out.code);
        return found.length > 0 ? [`${out.fileName}: ${found.join(', ')}`] : [];
      });
      if (offenders.length > 0) {
        this.error(
          `Engine code landed in the page's JavaScript (it belongs in the worker; see docs/ARCHITECTURE.md, Layers):\n  ${offenders.join('\n  ')}`,
        );
      }
    },
  };
}
