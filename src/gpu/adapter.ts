// Finds a WebGPU implementation and adapter: navigator.gpu in browsers and workers, Dawn (npm `webgpu`) in Node.
// In Node without a hardware Vulkan driver we fall back to SwiftShader, the software Vulkan ICD
// that Debian's chromium ships, so tests and the CLI run on any Linux machine.

import { GpuUnavailableError } from './errors';

export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface FoundAdapter {
  adapter: GPUAdapter;
  /** The implementation's entry object. Dawn tears its instance down when this is garbage-collected, so keep it. */
  gpu: GPU;
  /** Where the implementation came from. */
  runtime: 'browser' | 'dawn';
}

const isNode =
  typeof process !== 'undefined' &&
  !!process.versions?.node &&
  typeof window === 'undefined' &&
  typeof (globalThis as { importScripts?: unknown }).importScripts === 'undefined';

export async function findAdapter(powerPreference: GPUPowerPreference = 'high-performance'): Promise<FoundAdapter> {
  if (!isNode) {
    const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
    if (!gpu) {
      throw new GpuUnavailableError(
        'This browser has no WebGPU. Use a recent Chrome or Edge (113+) on Windows, macOS or ChromeOS, Chrome 121+ on ' +
          'Android, Safari 26+, or Firefox 141+ on Windows; on Linux start Chrome with --enable-unsafe-webgpu ' +
          '(and --enable-features=Vulkan). Pages must be served over https or from localhost.',
      );
    }
    const adapter = await gpu.requestAdapter({ powerPreference });
    if (!adapter) {
      throw new GpuUnavailableError(
        'WebGPU is present but no GPU adapter was offered. Check that hardware acceleration ' +
          'is enabled in the browser settings and that the GPU is not blocklisted (chrome://gpu).',
      );
    }
    return { adapter, gpu, runtime: 'browser' };
  }
  return findDawnAdapter(powerPreference);
}

/**
 * Dawn's device toggles. WebGPU zero-fills workgroup memory before each kernel runs; on Vulkan, Dawn does it
 * with VK_KHR_zero_initialize_workgroup_memory when the driver offers it, and SwiftShader compiles that in
 * time proportional to the arrays' size (a kernel with 12 KiB of tiles took 2 s to build instead of 50 ms).
 * Without the extension Dawn zero-fills with a loop of its own: the same semantics, built at once.
 */
const DAWN_FLAGS = ['disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension'];

async function findDawnAdapter(powerPreference: GPUPowerPreference): Promise<FoundAdapter> {
  // A variable specifier keeps bundlers from pulling the native module into the browser build.
  const moduleName = 'webgpu';
  let dawn: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    dawn = await import(/* @vite-ignore */ moduleName);
  } catch (e) {
    throw new GpuUnavailableError(`Cannot load Dawn (npm package "webgpu"): ${(e as Error).message}. Run npm install.`);
  }
  // Dawn's constructors and usage flags (GPUBufferUsage, ...) become globals, as they are in browsers.
  for (const [key, value] of Object.entries(dawn.globals)) {
    if (!(key in globalThis)) (globalThis as Record<string, unknown>)[key] = value;
  }
  const env = process.env;
  const [osName, fsName] = ['node:os', 'node:fs'];
  const { tmpdir } = await import(/* @vite-ignore */ osName);
  env.XDG_RUNTIME_DIR ??= tmpdir();
  let gpu = dawn.create(DAWN_FLAGS);
  const tryCreate = async () => gpu.requestAdapter({ powerPreference });
  // An explicit ICD choice (a real GPU's, or SwiftShader's) is honoured as is.
  let adapter = env.VK_ICD_FILENAMES ? await tryCreate() : await tryCreate().catch(() => null);
  if (!adapter && !env.VK_ICD_FILENAMES) {
    const { existsSync } = await import(/* @vite-ignore */ fsName);
    if (existsSync(SWIFTSHADER_ICD)) {
      env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
      gpu = dawn.create(DAWN_FLAGS);
      adapter = await tryCreate();
    }
  }
  if (!adapter) {
    throw new GpuUnavailableError(
      'No WebGPU adapter found through Dawn. Without a GPU driver, install the Vulkan loader and SwiftShader ' +
        `(Debian: apt-get install libvulkan1 chromium) so that ${SWIFTSHADER_ICD} exists, or set VK_ICD_FILENAMES ` +
        "to your Vulkan driver's ICD file.",
    );
  }
  return { adapter, gpu, runtime: 'dawn' };
}
