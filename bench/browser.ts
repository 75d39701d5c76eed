// `npm run bench -- browser [--quick] [--swiftshader]`: the GPU report from headless Chromium. Serves bench.html
// with Vite's dev server, opens it with `?run` (bench/browser/page.ts runs bench/reportCore.ts in a worker on the
// browser's WebGPU adapter), prints its progress, and writes bench/results/report-browser-<adapter>.{json,md}.
// Without --swiftshader Chromium is asked for the machine's GPU (Vulkan on Linux); if it offers no adapter the
// page's error (what Chromium said) is printed and the command fails.

import { createServer } from 'vite';
import { launchBrowser } from '../tools/chromium';
import type { BrowserReport } from './browser/protocol';
import { writeReport } from './report';

/** The full report takes minutes on a GPU; the quick one on SwiftShader about as long. */
const TIMEOUT_MS = 60 * 60 * 1000;

export async function benchBrowser(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const swiftshader = process.argv.includes('--swiftshader');
  const server = await createServer({ server: { port: 0, host: '127.0.0.1' }, logLevel: 'warn' });
  await server.listen();
  const browser = await launchBrowser({ swiftshader, longKernels: true });
  try {
    const base = server.resolvedUrls?.local[0];
    if (!base) throw new Error('the Vite dev server did not report a URL');
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error(`page error: ${e.message}`));
    await page.goto(`${base}bench.html?run${quick ? '&quick' : ''}`);
    const report = await follow(page);
    if ('error' in report) throw new Error(`the browser report failed: ${report.error}`);
    console.log(`\nresults: ${writeReport(report, 'report-browser', report.doc, report.markdown)}`);
  } finally {
    await browser.close();
    await server.close();
  }
}

type Page = Awaited<ReturnType<Awaited<ReturnType<typeof launchBrowser>>['newPage']>>;

/** Prints the page's progress lines as they come; resolves with its report or error. */
async function follow(page: Page): Promise<BrowserReport | { error: string }> {
  const start = Date.now();
  let printed = 0;
  for (;;) {
    const { log, report } = await page.evaluate(() => ({
      log: document.getElementById('log')?.textContent ?? '',
      report: window.__report,
    }));
    if (log.length < printed) printed = 0; // the page reloaded (the dev server's first dependency scan)
    process.stdout.write(log.slice(printed));
    printed = log.length;
    if (report) return report;
    if (Date.now() - start > TIMEOUT_MS) throw new Error('the browser report did not finish within an hour');
    await new Promise((r) => setTimeout(r, 2000));
  }
}
