// Debian's (or any installed) headless Chromium driven by playwright-core with WebGPU on: the e2e tests use
// SwiftShader (a CPU adapter, the same on every machine); the browser GPU report (bench/browser.ts) asks for the
// machine's GPU unless told otherwise. (playwright gives each launch a fresh temporary profile.)

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

const CANDIDATES = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
].filter((p): p is string => !!p);

export function chromiumPath(): string {
  const found = CANDIDATES.find((p) => existsSync(p));
  if (!found)
    throw new Error(`No Chromium found (tried ${CANDIDATES.join(', ')}). Install it: apt-get install chromium`);
  return found;
}

/**
 * SwiftShader (default, the tests' adapter) or the machine's GPU (Vulkan on Linux). `longKernels` turns off
 * the GPU watchdog, which kills the GPU process (losing the device) when one submission runs for seconds, as
 * a benchmark's big kernels do on a CPU adapter.
 */
export async function launchBrowser(o: { swiftshader?: boolean; longKernels?: boolean } = {}): Promise<Browser> {
  const adapter =
    o.swiftshader === false
      ? ['--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist']
      : [
          '--use-webgpu-adapter=swiftshader',
          '--enable-unsafe-swiftshader',
          // As src/gpu/adapter.ts does for Dawn in Node: SwiftShader builds kernels that zero-fill workgroup
          // memory through this Vulkan extension in time proportional to the arrays (seconds per tiled kernel);
          // Dawn's own zero-fill loop has the same semantics and builds at once.
          '--disable-dawn-features=use_vulkan_zero_initialize_workgroup_memory_extension',
        ];
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--enable-unsafe-webgpu',
      ...adapter,
      ...(o.longKernels ? ['--disable-gpu-watchdog'] : []),
      '--no-sandbox',
      '--disable-gpu-sandbox',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}
