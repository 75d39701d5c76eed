// What the page keeps across reloads, in IndexedDB (idb-keyval): datasets, settings, runs with their curves
// and evaluations, each run's task snapshot. Checkpoints live in their own database (written by the worker).
// A failed write (quota exceeded, private mode) is reported to the user, never swallowed.

import { createStore, del, get, set } from 'idb-keyval';
import { useNotices } from './notices';

const db = createStore('metalora-app', 'state');

export async function loadValue<T>(key: string): Promise<T | undefined> {
  try {
    return await get<T>(key, db);
  } catch (e) {
    useNotices
      .getState()
      .push('error', `Could not read saved ${key} from the browser's storage: ${(e as Error).message}`);
    return undefined;
  }
}

export async function saveValue(key: string, value: unknown): Promise<boolean> {
  try {
    await set(key, value, db);
    return true;
  } catch (e) {
    const err = e as DOMException;
    const quota = err.name === 'QuotaExceededError' || /quota/i.test(err.message);
    useNotices
      .getState()
      .push(
        'error',
        quota
          ? `The browser's storage is full, so ${key} was not saved. Delete old runs or datasets (or free disk space) and try again.`
          : `Saving ${key} failed: ${err.message}`,
      );
    return false;
  }
}

export async function deleteValue(key: string): Promise<void> {
  await del(key, db).catch(() => undefined);
}

/** Calls `write` at most every `ms` (and once more after the last call), for state that changes per iteration. */
export function throttled(write: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  let again = false;
  return () => {
    if (timer) {
      again = true;
      return;
    }
    write();
    timer = setTimeout(function tick() {
      timer = null;
      if (again) {
        again = false;
        write();
        timer = setTimeout(tick, ms);
      }
    }, ms);
  };
}

/** A fresh id for a stored record (`run-…`, `ds-…`): time-ordered, with a random suffix against collisions. */
export const newId = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
