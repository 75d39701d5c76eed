// The user's datasets: each uploaded file with its bytes, the field mapping (detected, then editable), the
// tasks it yields and its validation report. Files are read in the worker (src/data through the engine), so a
// big or broken file never freezes the page. Everything persists in IndexedDB and is shown again on reload.

import { create } from 'zustand';
import type { FieldMapping, SchemaId } from '../../data/index';
import type { DatasetRequest, DatasetResult, TaskInput } from '../../worker/protocol';
import { getEngine } from '../engineClient';
import { loadValue, newId, saveValue } from './persist';
import { useSettings } from './settings';

export interface DatasetRecord {
  id: string;
  fileName: string;
  bytes: Uint8Array;
  enabled: boolean;
  duplicates: 'drop' | 'keep';
  lengthPolicy: 'truncate' | 'skip';
  /** null while reading, or when the file could not be read at all (see error). */
  result: DatasetResult | null;
  error: string | null;
}

interface TasksState {
  datasets: DatasetRecord[];
  reading: boolean;
  addFiles(files: readonly File[]): Promise<void>;
  /** Fetches files served with the app (the demo task sets). */
  addFromUrls(urls: readonly string[]): Promise<void>;
  setMapping(id: string, mapping: FieldMapping): Promise<void>;
  setSchema(id: string, schema: SchemaId): Promise<void>;
  setOptions(id: string, o: Partial<Pick<DatasetRecord, 'duplicates' | 'lengthPolicy' | 'enabled'>>): Promise<void>;
  remove(id: string): void;
  /** Re-reads every dataset (after a model loads: its tokenizer checks lengths, its chat template applies). */
  revalidate(): Promise<void>;
  restore(): Promise<void>;
}

/** The tasks training gets: those of every enabled dataset that read cleanly, in order. */
export function activeTasks(datasets: readonly DatasetRecord[]): TaskInput[] {
  return datasets.filter((d) => d.enabled && d.result).flatMap((d) => d.result!.tasks);
}

/** Task names that appear in more than one enabled dataset (training needs distinct names). */
export function clashingNames(datasets: readonly DatasetRecord[]): string[] {
  const names = activeTasks(datasets).map((t) => t.name);
  return [...new Set(names.filter((n, i) => names.indexOf(n) !== i))];
}

export const useTasks = create<TasksState>((set, get) => {
  const persist = () => void saveValue('datasets', get().datasets);
  const patch = (id: string, change: Partial<DatasetRecord>) =>
    set((s) => ({ datasets: s.datasets.map((d) => (d.id === id ? { ...d, ...change } : d)) }));

  /** Reads (or re-reads) dataset `id` in the worker with its current options and, given, a mapping or schema. */
  const read = async (id: string, how: Pick<DatasetRequest, 'mapping' | 'schema'> = {}) => {
    const d = get().datasets.find((x) => x.id === id);
    if (!d) return;
    const { maxSeqLen } = useSettings.getState().settings;
    try {
      const result = await getEngine().request('readDataset', {
        spec: {
          fileName: d.fileName,
          bytes: d.bytes,
          duplicates: d.duplicates,
          maxLength: maxSeqLen,
          lengthPolicy: d.lengthPolicy,
          ...how,
        },
      });
      patch(id, { result, error: null });
    } catch (e) {
      // A mapping edit that cannot work keeps the last good result and says why.
      patch(id, { error: (e as Error).message, ...(how.mapping || how.schema ? {} : { result: null }) });
    }
  };

  const add = async (items: { name: string; bytes: Uint8Array }[]) => {
    set({ reading: true });
    const records = items.map((it): DatasetRecord => ({
      id: newId('ds'),
      fileName: it.name,
      bytes: it.bytes,
      enabled: true,
      duplicates: 'drop',
      lengthPolicy: 'truncate',
      result: null,
      error: null,
    }));
    set((s) => ({ datasets: [...s.datasets, ...records] }));
    for (const r of records) await read(r.id);
    set({ reading: false });
    persist();
  };

  return {
    datasets: [],
    reading: false,
    async addFiles(files) {
      await add(
        await Promise.all(files.map(async (f) => ({ name: f.name, bytes: new Uint8Array(await f.arrayBuffer()) }))),
      );
    },
    async addFromUrls(urls) {
      const items = await Promise.all(
        urls.map(async (url) => {
          const res = await fetch(url);
          if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
          return { name: url.slice(url.lastIndexOf('/') + 1), bytes: new Uint8Array(await res.arrayBuffer()) };
        }),
      );
      await add(items);
    },
    async setMapping(id, mapping) {
      await read(id, { mapping });
      persist();
    },
    async setSchema(id, schema) {
      await read(id, { schema });
      persist();
    },
    async setOptions(id, o) {
      patch(id, o);
      const d = get().datasets.find((x) => x.id === id);
      if (d?.result && (o.duplicates || o.lengthPolicy)) await read(id, { mapping: d.result.mapping });
      persist();
    },
    remove(id) {
      set((s) => ({ datasets: s.datasets.filter((d) => d.id !== id) }));
      persist();
    },
    async revalidate() {
      for (const d of get().datasets) await read(d.id, d.result ? { mapping: d.result.mapping } : {});
      persist();
    },
    async restore() {
      const saved = await loadValue<DatasetRecord[]>('datasets');
      if (saved) set({ datasets: saved });
    },
  };
});
