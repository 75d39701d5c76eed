// Hugging Face Hub downloads against a fake hub on 127.0.0.1 (node:http): listing and file choice, progress,
// resume with HTTP Range after the server cuts a response mid-file (within one download and across two),
// a second load served from the cache with the server stopped, and clear errors for 404 and no network.

import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import type { ByteSource } from '../../src/io/byteSource';
import {
  type DownloadProgress,
  HubError,
  HubOfflineError,
  downloadModel,
  fetchRepoInfo,
  selectModelFiles,
} from '../../src/io/hub';
import { directoryCache, keySegments } from '../../src/io/modelCache';

const SHA = '0123456789abcdef0123456789abcdef01234567';
const weights = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 2654435761) >>> 24);
const REPO: Record<string, Uint8Array> = {
  'config.json': new TextEncoder().encode('{"model_type":"llama"}'),
  'tokenizer.json': new TextEncoder().encode('{"model":{}}'),
  'tokenizer_config.json': new TextEncoder().encode('{}'),
  'model.safetensors': weights,
  'README.md': new TextEncoder().encode('# fake'),
  'onnx/model.onnx': new Uint8Array(10),
};

interface Hit {
  url: string;
  range?: string;
}

/**
 * A fake hub serving REPO as test/tiny. `cut` maps a file to the byte after which its next response dies;
 * `stall` to the byte after which its next response goes silent without closing.
 */
function fakeHub() {
  const hits: Hit[] = [];
  const cut = new Map<string, number>();
  const stall = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    hits.push({ url, range: req.headers.range });
    if (url === '/api/models/test/tiny/revision/main?blobs=true') {
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          id: 'test/tiny',
          sha: SHA,
          siblings: Object.entries(REPO).map(([rfilename, b]) => ({ rfilename, size: b.length })),
        }),
      );
      return;
    }
    const prefix = `/test/tiny/resolve/${SHA}/`;
    const body = url.startsWith(prefix) ? REPO[decodeURIComponent(url.slice(prefix.length))] : undefined;
    if (!body) {
      res.statusCode = 404;
      res.end('{"error":"Repository not found"}');
      return;
    }
    const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? 0);
    res.statusCode = start ? 206 : 200;
    if (start) res.setHeader('content-range', `bytes ${start}-${body.length - 1}/${body.length}`);
    res.setHeader('content-length', body.length - start);
    const name = url.slice(prefix.length);
    const stop = cut.get(name);
    if (stop !== undefined && stop > start) {
      cut.delete(name);
      // Wait before dropping the connection so the client has read what was sent (undici discards a chunk still
      // queued in the stream when the socket dies with it).
      res.write(body.subarray(start, stop), () => setTimeout(() => res.socket?.destroy(), 100));
      return;
    }
    const silentAt = stall.get(name);
    if (silentAt !== undefined) {
      stall.delete(name);
      res.write(body.subarray(start, silentAt));
      return;
    }
    res.end(body.subarray(start));
  });
  const ready = new Promise<string>((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)),
  );
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections(); // fetch keeps connections alive; the test wants the hub gone at once
    });
  return { hits, cut, stall, ready, stop };
}

const dirs: string[] = [];
const newCache = () => {
  const dir = mkdtempSync(join(tmpdir(), 'hub-test-'));
  dirs.push(dir);
  return directoryCache(dir);
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const opened: ByteSource[] = [];
afterAll(() => Promise.all(opened.map((s) => s.close?.())));
/** Downloads and remembers the cached files, to close them at the end. */
const download = async (...args: Parameters<typeof downloadModel>) => {
  const model = await downloadModel(...args);
  opened.push(...model.files.values());
  return model;
};
/** Whether the cached file holds exactly `expected` (vitest's deep equality is slow on 300 KB arrays). */
const holds = async (s: ByteSource | undefined, expected: Uint8Array) => {
  return Buffer.from(await s!.read(0, s!.size)).equals(expected);
};

describe('Hugging Face Hub', () => {
  let hub: ReturnType<typeof fakeHub>;
  let endpoint: string;
  beforeEach(async () => {
    hub = fakeHub();
    endpoint = await hub.ready;
    return () => hub.stop();
  });

  it('lists a revision and picks the files the engine needs', async () => {
    const info = await fetchRepoInfo('test/tiny', { endpoint });
    expect(info.sha).toBe(SHA);
    expect(info.files).toContainEqual({ path: 'model.safetensors', size: 300_000 });
    expect(selectModelFiles(info.files)).toEqual([
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'model.safetensors',
    ]);
    const sharded = [
      'config.json',
      'model.safetensors.index.json',
      'model-00002-of-00002.safetensors',
      'model-00001-of-00002.safetensors',
      'tokenizer.json',
    ].map((path) => ({ path }));
    expect(selectModelFiles(sharded)).toEqual([
      'config.json',
      'tokenizer.json',
      'model.safetensors.index.json',
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
    ]);
    const ggufs = ['a-Q8_0.gguf', 'a-F16.gguf'].map((path) => ({ path }));
    expect(() => selectModelFiles(ggufs)).toThrow(/2 GGUF files; choose one: a-F16.gguf, a-Q8_0.gguf/);
    expect(selectModelFiles(ggufs, { gguf: 'a-F16.gguf' })).toEqual(['a-F16.gguf']);
    expect(() => selectModelFiles([{ path: 'README.md' }])).toThrow(/neither model.safetensors/);
  });

  it('downloads with progress, then loads from the cache with the server stopped', async () => {
    const cache = newCache();
    const events: DownloadProgress[] = [];
    const first = await download('test/tiny', { endpoint, cache, onProgress: (p) => events.push(p) });
    expect([...first.files.keys()]).toEqual([
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'model.safetensors',
    ]);
    expect(await holds(first.files.get('model.safetensors'), weights)).toBe(true);
    const total = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors'].reduce(
      (n, f) => n + REPO[f].length,
      0,
    );
    expect(events.every((e) => e.total === total && !e.cached)).toBe(true);
    expect(events.map((e) => e.loaded)).toEqual([...events.map((e) => e.loaded)].sort((a, b) => a - b));
    expect(events.at(-1)).toMatchObject({
      file: 'model.safetensors',
      fileLoaded: 300_000,
      fileTotal: 300_000,
      loaded: total,
    });

    await hub.stop();
    const cachedEvents: DownloadProgress[] = [];
    const second = await download('test/tiny', { endpoint, cache, onProgress: (p) => cachedEvents.push(p) });
    expect(await holds(second.files.get('config.json'), REPO['config.json'])).toBe(true);
    expect(await holds(second.files.get('model.safetensors'), weights)).toBe(true);
    expect(cachedEvents.map((e) => e.cached)).toEqual([true, true, true, true]);
    expect(cachedEvents.at(-1)?.loaded).toBe(total);
  });

  it('resumes with a Range request when the server cuts a file mid-way', async () => {
    hub.cut.set('model.safetensors', 120_000);
    const got = await download('test/tiny', { endpoint, cache: newCache() });
    expect(await holds(got.files.get('model.safetensors'), weights)).toBe(true);
    const requests = hub.hits.filter((h) => h.url.endsWith('/model.safetensors'));
    expect(requests.length).toBe(2);
    expect(requests[0].range).toBeUndefined();
    expect(requests[1].range).toBe('bytes=120000-');
  });

  it('drops a response that goes silent and resumes it', async () => {
    hub.stall.set('model.safetensors', 70_000);
    const got = await download('test/tiny', { endpoint, cache: newCache(), idleTimeoutMs: 300 });
    expect(await holds(got.files.get('model.safetensors'), weights)).toBe(true);
    expect(hub.hits.filter((h) => h.url.endsWith('/model.safetensors')).map((h) => h.range)).toEqual([
      undefined,
      'bytes=70000-',
    ]);
  });

  it('keeps the partial file when every retry fails, and the next download resumes from it', async () => {
    const cache = newCache();
    hub.cut.set('model.safetensors', 50_000);
    await expect(downloadModel('test/tiny', { endpoint, cache, maxRetries: 0 })).rejects.toThrow(
      /failed after 1 attempts.*50000 bytes are kept/,
    );
    const got = await download('test/tiny', { endpoint, cache });
    expect(await holds(got.files.get('model.safetensors'), weights)).toBe(true);
    expect(hub.hits.filter((h) => h.url.endsWith('/model.safetensors')).map((h) => h.range)).toEqual([
      undefined,
      'bytes=50000-',
    ]);
  });

  it('gives clear errors: unknown repository, no network and nothing cached, bad repo id', async () => {
    await expect(downloadModel('test/missing', { endpoint, cache: newCache() })).rejects.toThrow(
      /Repository test\/missing \(revision main\) was not found/,
    );
    await hub.stop();
    const offline = downloadModel('test/tiny', { endpoint, cache: newCache() });
    await expect(offline).rejects.toThrow(HubOfflineError);
    await expect(offline).rejects.toThrow(/Cannot reach http:\/\/127\.0\.0\.1:\d+ .*has never been downloaded here/);
    await expect(fetchRepoInfo('../etc', { endpoint })).rejects.toThrow(HubError);
    expect(() => keySegments('files/a/../../x')).toThrow(/not a safe cache path/);
  });
});
