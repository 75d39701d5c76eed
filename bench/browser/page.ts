// bench.html: starts the report in a worker (bench/browser/worker.ts), shows its progress, and offers the result
// for download. `?run` starts it at once (`&quick` for the quick one): bench/browser.ts drives the page that way
// in headless Chromium and reads `window.__report`.

import type { BrowserReport, ReportMessage, ReportRequest } from './protocol';

declare global {
  interface Window {
    __report?: BrowserReport | { error: string };
  }
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
$<HTMLInputElement>('quick').checked = params.has('quick');

function start(): void {
  $<HTMLButtonElement>('run').disabled = true;
  const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (event: MessageEvent<ReportMessage>) => {
    const m = event.data;
    if ('log' in m) $('log').textContent += `${m.log}\n`;
    else if ('report' in m) show(m.report);
    else fail(m.error);
  };
  worker.onerror = (event) => fail(event.message || 'the report worker failed to start');
  worker.postMessage({ quick: $<HTMLInputElement>('quick').checked } satisfies ReportRequest);
}

function show(report: BrowserReport): void {
  $('report').textContent = report.markdown;
  const link = (id: string, text: string, type: string) => {
    $<HTMLAnchorElement>(id).href = URL.createObjectURL(new Blob([text], { type }));
  };
  link('json', JSON.stringify(report, null, 2), 'application/json');
  link('md', report.markdown, 'text/markdown');
  $('downloads').hidden = false;
  window.__report = report;
}

function fail(error: string): void {
  const log = $('log');
  log.textContent += `\n${error}\n`;
  log.classList.add('error');
  window.__report = { error };
}

$<HTMLButtonElement>('run').addEventListener('click', start);
if (params.has('run')) start();
