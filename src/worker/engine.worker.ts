// The Web Worker that owns the GPU engine. The page talks to it only through ./protocol.ts messages,
// so long GPU work never blocks the UI thread.

import { GpuContext } from '../gpu/context';
import type { Request, Response } from './protocol';
import { matmulSelfTest } from './selfTest';

let context: Promise<GpuContext> | null = null;

function gpu(): Promise<GpuContext> {
  context ??= GpuContext.create().catch((e) => {
    context = null; // let the user retry after fixing the browser settings
    throw e;
  });
  return context;
}

async function handle(req: Request): Promise<Response> {
  switch (req.type) {
    case 'probe':
      return { id: req.id, type: 'probe', info: (await gpu()).info };
    case 'selfTest':
      return { id: req.id, type: 'selfTest', result: await matmulSelfTest(await gpu()) };
  }
}

self.onmessage = async (event: MessageEvent<Request>) => {
  const req = event.data;
  let res: Response;
  try {
    res = await handle(req);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    res = { id: req.id, type: 'error', error: { name: err.name, message: err.message } };
  }
  self.postMessage(res);
};
