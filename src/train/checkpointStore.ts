// Where checkpoints are kept: a directory in Node (`train --out DIR`, beside adapter_model.safetensors) or
// IndexedDB in the browser. Either way a save is all-or-nothing as seen by the next load, so an interrupted
// save leaves the last good checkpoint loadable.

import { createStore, delMany, getMany, setMany } from 'idb-keyval';
import {
  type Checkpoint,
  CheckpointError,
  type SerializedCheckpoint,
  checkpointIdOf,
  deserializeCheckpoint,
  serializeCheckpoint,
} from './checkpoint';

export interface StoredCheckpoint {
  json: string;
  tensors: Uint8Array;
}

export interface CheckpointStore {
  save(ck: SerializedCheckpoint): Promise<void>;
  /** The last completed save, or null when there is none. */
  load(): Promise<StoredCheckpoint | null>;
}

export async function saveCheckpoint(store: CheckpointStore, ck: Checkpoint): Promise<void> {
  await store.save(serializeCheckpoint(ck));
}

export async function loadCheckpoint(store: CheckpointStore): Promise<Checkpoint | null> {
  const stored = await store.load();
  return stored && deserializeCheckpoint(stored.json, stored.tensors);
}

export const CHECKPOINT_JSON = 'checkpoint.json';
const tensorsFile = (id: string) => `checkpoint-${id}.safetensors`;
const TENSORS_PATTERN = /^checkpoint-[0-9]+-[0-9a-f]+\.safetensors(\.tmp)?$/;

/**
 * Node: `DIR/checkpoint.json` names its tensors file `DIR/checkpoint-<id>.safetensors`. A save writes the new
 * tensors file (temp, fsync, rename), then replaces checkpoint.json the same way (the commit point), then
 * deletes older tensors files. A crash at any step leaves checkpoint.json naming a complete tensors file.
 */
export function directoryCheckpointStore(dir: string): CheckpointStore {
  // Imported lazily so that the browser build never sees node: modules.
  const fsName = 'node:fs/promises';
  const pathName = 'node:path';
  const mods = Promise.all([
    import(/* @vite-ignore */ fsName) as Promise<typeof import('node:fs/promises')>,
    import(/* @vite-ignore */ pathName) as Promise<typeof import('node:path')>,
  ]);

  const writeDurably = async (fs: typeof import('node:fs/promises'), file: string, parts: readonly Uint8Array[]) => {
    const handle = await fs.open(`${file}.tmp`, 'w');
    try {
      for (const p of parts) {
        for (let done = 0; done < p.byteLength;)
          done += (await handle.write(p, done, p.byteLength - done)).bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(`${file}.tmp`, file);
  };

  return {
    async save(ck) {
      const [fs, path] = await mods;
      await fs.mkdir(dir, { recursive: true });
      const keep = tensorsFile(ck.id);
      await writeDurably(fs, path.join(dir, keep), ck.tensors);
      await writeDurably(fs, path.join(dir, CHECKPOINT_JSON), [new TextEncoder().encode(ck.json)]);
      const stale = (await fs.readdir(dir)).filter((f) => TENSORS_PATTERN.test(f) && f !== keep);
      await Promise.all(stale.map((f) => fs.rm(path.join(dir, f), { force: true })));
    },
    async load() {
      const [fs, path] = await mods;
      let json: string;
      try {
        json = await fs.readFile(path.join(dir, CHECKPOINT_JSON), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw e;
      }
      const file = path.join(dir, tensorsFile(checkpointIdOf(json)));
      try {
        return { json, tensors: new Uint8Array(await fs.readFile(file)) };
      } catch (e) {
        throw new CheckpointError(`${file}: cannot read the checkpoint's tensors (${(e as Error).message})`);
      }
    },
  };
}

/**
 * Browser: IndexedDB database `metalora-checkpoints`, one entry pair per run name. Both values are written
 * in one transaction (setMany), which IndexedDB commits atomically. Tensors are stored as a Blob built from
 * the parts, so a save does not concatenate them in memory.
 */
const checkpointDb = () => createStore('metalora-checkpoints', 'checkpoints');
const checkpointKeys = (run: string) => [`${run}/json`, `${run}/tensors`];

export function indexedDbCheckpointStore(run: string): CheckpointStore {
  const db = checkpointDb();
  const keys = checkpointKeys(run);
  return {
    async save(ck) {
      await setMany(
        [
          [keys[0], ck.json],
          [keys[1], new Blob(ck.tensors as Uint8Array<ArrayBuffer>[])],
        ],
        db,
      );
    },
    async load() {
      const [json, blob] = await getMany<string | Blob | undefined>(keys, db);
      if (json === undefined && blob === undefined) return null;
      if (typeof json !== 'string' || !(blob instanceof Blob)) {
        throw new CheckpointError(`IndexedDB checkpoint "${run}" is incomplete`);
      }
      return { json, tensors: new Uint8Array(await blob.arrayBuffer()) };
    },
  };
}

/** Deletes run `run`'s checkpoint from IndexedDB (both entries in one transaction). */
export async function deleteIndexedDbCheckpoint(run: string): Promise<void> {
  await delMany(checkpointKeys(run), checkpointDb());
}
