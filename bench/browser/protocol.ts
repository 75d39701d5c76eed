// Messages between bench.html's page (bench/browser/page.ts) and the worker that runs the report.

import type { GpuInfo } from '../../src/gpu/context';

export interface ReportRequest {
  quick: boolean;
}

export interface BrowserReport {
  adapterName: string;
  info: GpuInfo;
  doc: object;
  markdown: string;
}

export type ReportMessage = { log: string } | { report: BrowserReport } | { error: string };
