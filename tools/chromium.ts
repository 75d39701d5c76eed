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

/** SwiftShader (default, the tests' adapter) or the machine's GPU (Vulkan on Linux). */
export async function launchBrowser(o: { swiftshader?: boolean } = {}): Promise<Browser> {
  const adapter =
    o.swiftshader === false
      ? ['--enable-features=Vulkan', '--use-angle=vulkan', '--ignore-gpu-blocklist']
      : ['--use-webgpu-adapter=swiftshader', '--enable-unsafe-swiftshader'];
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--enable-unsafe-webgpu',
      ...adapter,
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
