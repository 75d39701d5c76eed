// The page in headless Chromium: it finds a WebGPU adapter and shows a correct matmul computed on it.

import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { launchBrowser } from '../../tools/chromium';

let browser: Browser;

beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
});

describe('first page', () => {
  it('shows the adapter and the correct product of a small matmul computed on its GPU', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(inject('baseUrl'));
    await page.getByTestId('gpu-ready').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('adapter-name').textContent()).toMatch(/\w/);
    await page.getByTestId('self-test').waitFor({ timeout: 120_000 });
    // 1·7+2·9+3·11 = 58, 1·8+2·10+3·12 = 64, 4·7+5·9+6·11 = 139, 4·8+5·10+6·12 = 154
    expect(await page.getByTestId('small-product').textContent()).toBe('[[58,64],[139,154]]');
    expect(await page.getByTestId('self-test-status').textContent()).toMatch(/^PASS/);
    expect(errors).toEqual([]);
    await page.screenshot({ path: 'tests/.artifacts/first-page.png', fullPage: true });
  });

  it('explains what to do when the browser has no WebGPU', async () => {
    const page = await browser.newPage();
    // Simulate a browser without WebGPU: hide navigator.gpu in every worker and the page.
    await page.addInitScript(() => {
      Object.defineProperty(Object.getPrototypeOf(navigator), 'gpu', { get: () => undefined });
    });
    await page.route('**/engine.worker-*.js', async (route) => {
      const res = await route.fetch();
      const body =
        'Object.defineProperty(Object.getPrototypeOf(navigator), "gpu", { get: () => undefined });\n' +
        (await res.text());
      await route.fulfill({ response: res, body });
    });
    await page.goto(inject('baseUrl'));
    const alert = page.getByTestId('gpu-unavailable');
    await alert.waitFor({ timeout: 60_000 });
    expect(await alert.textContent()).toMatch(/no WebGPU.*Chrome/s);
  });
});
