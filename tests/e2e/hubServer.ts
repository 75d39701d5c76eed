// A stand-in for the Hugging Face Hub on localhost, serving the real stories260K files from ../shared/models
// under the preset's repository (karpathy/tinyllamas): the model listing API and /resolve/ downloads, with
// the CORS headers the page's worker needs. The app reaches it through `?hub=<url>` (its Hub mirror setting).

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sharedPath } from '../helpers/shared';

const SHA = '0123456789abcdef0123456789abcdef01234567';

export interface HubServer {
  url: string;
  /** Paths requested, in order. */
  hits: string[];
  close(): Promise<void>;
}

export async function startHubServer(): Promise<HubServer> {
  const files: Record<string, Buffer> = {
    'stories260K/stories260K.bin': readFileSync(sharedPath('models/stories260K/stories260K.bin')),
    'stories260K/tok512.bin': readFileSync(sharedPath('models/stories260K/tok512.bin')),
  };
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    const url = req.url ?? '';
    hits.push(url);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', '*');
    res.setHeader('Access-Control-Expose-Headers', 'Content-Length, Content-Range, ETag');
    if (req.method === 'OPTIONS') return void res.writeHead(204).end();
    if (url === '/api/models/karpathy/tinyllamas/revision/main?blobs=true') {
      const siblings = Object.entries(files).map(([rfilename, b]) => ({ rfilename, size: b.length }));
      return void res
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(JSON.stringify({ sha: SHA, siblings }));
    }
    const prefix = `/karpathy/tinyllamas/resolve/${SHA}/`;
    const body = url.startsWith(prefix) ? files[decodeURIComponent(url.slice(prefix.length))] : undefined;
    if (!body) return void res.writeHead(404).end('not found');
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = range ? Number(range[1]) : 0;
    res.writeHead(range ? 206 : 200, {
      'Content-Length': body.length - from,
      ...(range ? { 'Content-Range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
    });
    res.end(body.subarray(from));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise((r) => server.close(() => r())),
  };
}
