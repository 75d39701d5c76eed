// A value the page asks the engine worker for (a preset's memory estimate, how tasks split), requested again
// whenever one of `deps` changes (compared by identity, as React compares them: no copy of large task lists).
// Only the answer for the current deps is returned: while it is pending the value is null, never a stale one,
// and an older request's late answer is dropped.

import { useEffect, useState } from 'react';
import type { RequestOf, Results } from '../worker/protocol';
import { getEngine } from './engineClient';

interface Answer<T> {
  deps: readonly unknown[];
  value: T | null;
  error: string | null;
}

const sameDeps = (a: readonly unknown[], b: readonly unknown[]) =>
  a.length === b.length && a.every((x, i) => Object.is(x, b[i]));

export function useEngineResult<T extends keyof Results>(
  type: T,
  payload: RequestOf<T> | null,
  deps: unknown[],
): { value: Results[T] | null; error: string | null } {
  const [answer, setAnswer] = useState<Answer<Results[T]>>({ deps: [], value: null, error: null });
  const key = [type, payload === null, ...deps];
  useEffect(() => {
    if (payload === null) return;
    let current = true;
    getEngine()
      .request(type, payload)
      .then(
        (value) => current && setAnswer({ deps: key, value, error: null }),
        (e: Error) => current && setAnswer({ deps: key, value: null, error: e.message }),
      );
    return () => {
      current = false;
    };
  }, key); // eslint-disable-line react-hooks/exhaustive-deps
  return payload !== null && sameDeps(answer.deps, key) ? answer : { value: null, error: null };
}
