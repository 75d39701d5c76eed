// Measured kernel choices in the browser: IndexedDB (idb-keyval), one record per adapter and kernel version,
// so the page measures its GPU's kernel variants once, not on every visit.

import { createStore, get, set } from 'idb-keyval';
import type { KernelChoiceRecord, KernelChoiceStore } from '../gpu/kernelChoice';

export function indexedDbKernelStore(): KernelChoiceStore {
  const store = createStore('metalora-kernels', 'choices');
  return {
    where: 'this browser’s IndexedDB',
    load: (key) => get<KernelChoiceRecord>(key, store),
    save: (record) => set(record.key, record, store),
  };
}
