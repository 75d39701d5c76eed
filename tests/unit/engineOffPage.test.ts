// The build check that keeps engine code off the page (tools/engineOffPage.ts, a Vite plugin in vite.config.ts):
// what it recognises as engine code. `npx vite build` runs the plugin itself on the real bundle.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { engineMarkers } from '../../tools/engineOffPage';

describe('engineMarkers', () => {
  it('finds a real kernel and WebGPU compute calls', () => {
    const wgsl = readFileSync(join(__dirname, '../../shaders/matmul_blocked.wgsl'), 'utf8');
    expect(engineMarkers(wgsl)).toEqual(
      expect.arrayContaining(['WGSL @compute entry point', 'WGSL storage binding (var<storage)']),
    );
    expect(
      engineMarkers('const p=d.createComputePipeline({layout:"auto"});e.beginComputePass().dispatchWorkgroups(4)'),
    ).toEqual(['createComputePipeline', 'beginComputePass', 'dispatchWorkgroups']);
  });

  it('passes page code, even code that talks about the GPU', () => {
    expect(
      engineMarkers(
        'navigator.gpu.requestAdapter(); const label = "compute on the GPU"; worker.postMessage({type:"train"})',
      ),
    ).toEqual([]);
  });
});
