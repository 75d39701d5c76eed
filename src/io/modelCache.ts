// Where downloaded model files live so that a second load works offline: the browser's Origin Private File
// System (files of any size, written in place, read back as Blobs without loading them whole) or a folder on
// disk in Node. Each entry is either complete or partial; a partial one keeps its bytes so that the download
// resumes with an HTTP Range request instead of starting over.

import { type ByteSource, blobSource, fileSource } from './byteSource';

export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Closes the file; `complete` marks it whole (readable by `open`), otherwise it stays partial. */
  close(complete: boolean): Promise<void>;
}

export interface ModelCache {
  /** The complete file stored under `key`, or null. */
  open(key: string): Promise<ByteSource | null>;
  /** Bytes of a partial download of `key` (0 when none). */
  partialSize(key: string): Promise<number>;
  /** Opens the partial file of `key` for writing from byte `from` (discarding anything after it). */
  writer(key: string, from: number): Promise<CacheWriter>;
  /** Small text documents (repository manifests). */
  readText(key: string): Promise<string | null>;
  writeText(key: string, text: string): Promise<void>;
}

export class CacheKeyError extends Error {
  override name = 'CacheKeyError';
}

/** Keys are relative paths built from repo ids and file names that come from a server: refuse escapes. */
export function keySegments(key: string): string[] {
  const parts = key.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..' || /[\\\0]/.test(p))) {
    throw new CacheKeyError(`"${key}" is not a safe cache path.`);
  }
  return parts;
}

/** Node: files under `root`, complete at `root/key`, partial at `root/key.partial`. */
export function directoryCache(root: string): ModelCache {
  // Imported lazily so that the browser build never sees node: modules.
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const mods = Promise.all([
    import(/* @vite-ignore */ fsName) as Promise<typeof import('node:fs/promises')>,
    import(/* @vite-ignore */ pathName) as Promise<typeof import('node:path')>,
  ]);
  const at = async (key: string, create = false) => {
    const [fs, path] = await mods;
    const file = path.join(root, ...keySegments(key));
    if (create) await fs.mkdir(path.dirname(file), { recursive: true });
    return { fs, file };
  };
  const size = async (fs: typeof import('node:fs/promises'), file: string) =>
    fs.stat(file).then(
      (s) => s.size,
      () => -1,
    );
  return {
    async open(key) {
      const { fs, file } = await at(key);
      return (await size(fs, file)) >= 0 ? fileSource(file) : null;
    },
    async partialSize(key) {
      const { fs, file } = await at(key);
      return Math.max(0, await size(fs, `${file}.partial`));
    },
    async writer(key, from) {
      const { fs, file } = await at(key, true);
      const handle = await fs.open(`${file}.partial`, (await size(fs, `${file}.partial`)) >= 0 ? 'r+' : 'w');
      await handle.truncate(from);
      let position = from;
      return {
        async write(chunk) {
          let done = 0;
          while (done < chunk.byteLength) {
            const { bytesWritten } = await handle.write(chunk, done, chunk.byteLength - done, position);
            done += bytesWritten;
            position += bytesWritten;
          }
        },
        async close(complete) {
          await handle.close();
          if (complete) await fs.rename(`${file}.partial`, file);
        },
      };
    },
    async readText(key) {
      const { fs, file } = await at(key);
      return fs.readFile(file, 'utf8').catch(() => null);
    },
    async writeText(key, text) {
      const { fs, file } = await at(key, true);
      await fs.writeFile(`${file}.tmp`, text);
      await fs.rename(`${file}.tmp`, file);
    },
  };
}

/** The part of OPFS's sync access handle we use (worker-only, absent from TypeScript's DOM library). */
interface SyncAccessHandle {
  write(data: Uint8Array, opts: { at: number }): number;
  truncate(size: number): void;
  flush(): void;
  close(): void;
}

/**
 * Browser: OPFS under `metalora-models/`. Data is written in place to `name`; the empty marker `name.complete`
 * says it is whole. In a worker, writes go through a sync access handle and survive a crash mid-download; on
 * the main thread through a writable stream, whose bytes land when it closes (after each attempt).
 */
export function opfsCache(folder = 'metalora-models'): ModelCache {
  const locate = async (key: string) => {
    const parts = keySegments(key);
    let dir = await (await navigator.storage.getDirectory()).getDirectoryHandle(folder, { create: true });
    for (const p of parts.slice(0, -1)) dir = await dir.getDirectoryHandle(p, { create: true });
    return { dir, name: parts[parts.length - 1] };
  };
  const fileOf = async (dir: FileSystemDirectoryHandle, name: string) => {
    try {
      return await (await dir.getFileHandle(name)).getFile();
    } catch {
      return null;
    }
  };
  return {
    async open(key) {
      const { dir, name } = await locate(key);
      if (!(await fileOf(dir, `${name}.complete`))) return null;
      const file = await fileOf(dir, name);
      return file ? blobSource(file, key) : null;
    },
    async partialSize(key) {
      const { dir, name } = await locate(key);
      if (await fileOf(dir, `${name}.complete`)) return 0;
      return (await fileOf(dir, name))?.size ?? 0;
    },
    async writer(key, from) {
      const { dir, name } = await locate(key);
      await dir.removeEntry(`${name}.complete`).catch(() => undefined);
      const handle = await dir.getFileHandle(name, { create: true });
      const markComplete = async (complete: boolean) => {
        if (complete) await dir.getFileHandle(`${name}.complete`, { create: true });
      };
      const syncCapable = handle as unknown as { createSyncAccessHandle?: () => Promise<SyncAccessHandle> };
      if (typeof syncCapable.createSyncAccessHandle === 'function' && typeof window === 'undefined') {
        const sync = await syncCapable.createSyncAccessHandle();
        sync.truncate(from);
        let position = from;
        return {
          async write(chunk) {
            position += sync.write(chunk, { at: position });
          },
          async close(complete) {
            sync.flush();
            sync.close();
            await markComplete(complete);
          },
        };
      }
      const stream = await handle.createWritable({ keepExistingData: true });
      await stream.truncate(from);
      await stream.seek(from);
      return {
        write: (chunk) => stream.write(chunk as Uint8Array<ArrayBuffer>),
        async close(complete) {
          await stream.close();
          await markComplete(complete);
        },
      };
    },
    async readText(key) {
      const { dir, name } = await locate(key);
      return (await fileOf(dir, name))?.text() ?? null;
    },
    async writeText(key, text) {
      const { dir, name } = await locate(key);
      const stream = await (await dir.getFileHandle(name, { create: true })).createWritable();
      await stream.write(text);
      await stream.close();
    },
  };
}
