// TensorFlow.js's WebGPU backend on *our* device, so both run on the same adapter in the same process.

import type { GpuContext } from '../src/gpu/context';

export type Tf = typeof import('@tensorflow/tfjs-core');

export async function tfjsOnDevice(ctx: GpuContext): Promise<{ tf: Tf; flush: () => void }> {
  // tfjs checks navigator.gpu before it agrees to run; Node 20 has no navigator.
  const g = globalThis as { navigator?: { gpu?: GPU } };
  if (!g.navigator?.gpu)
    Object.defineProperty(globalThis, 'navigator', {
      value: { ...(g.navigator ?? {}), gpu: ctx.gpu },
      configurable: true,
    });
  const tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
  // Its kernels are registered under the name 'webgpu': replace that backend's factory with one on our device.
  if (tf.findBackendFactory('webgpu')) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => new WebGPUBackend(ctx.device, ctx.adapter.info));
  await tf.setBackend('webgpu');
  await tf.ready();
  const backend = tf.backend() as unknown as {
    commandEncoder: GPUCommandEncoder | null;
    endComputePassEncoder(): void;
    submitQueue(): void;
  };
  const flush = () => {
    if (!backend.commandEncoder) return;
    backend.endComputePassEncoder();
    backend.submitQueue();
  };
  return { tf, flush };
}
