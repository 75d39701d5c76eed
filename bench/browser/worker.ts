// bench.html's worker: runs the GPU report (bench/reportCore.ts) on the browser's WebGPU adapter, off the page's
// thread, posting progress lines and then the report or the error.

import { GpuContext } from '../../src/gpu/context';
import { runReport } from '../reportCore';
import type { ReportMessage, ReportRequest } from './protocol';

const post = (m: ReportMessage) => self.postMessage(m);

self.onmessage = async (event: MessageEvent<ReportRequest>) => {
  try {
    const ctx = await GpuContext.create();
    post({ log: `adapter: ${ctx.adapterName} (${ctx.info.isSoftware ? 'software' : 'hardware'})` });
    const host = () => `${navigator.userAgent}; ${navigator.hardwareConcurrency} logical CPUs`;
    const { quick } = event.data;
    const command = `bench.html${quick ? ' (quick)' : ''} in ${navigator.userAgent.match(/\b(Chrome|Firefox|Safari)\/[\d.]+/)?.[0] ?? 'a browser'}`;
    const { doc, markdown } = await runReport(ctx, { quick, log: (log) => post({ log }), host, command });
    post({ report: { adapterName: ctx.adapterName, info: ctx.info, doc, markdown } });
    ctx.destroy();
  } catch (e) {
    post({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
  }
};
