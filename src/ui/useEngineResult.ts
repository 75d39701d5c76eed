// A value the page asks the engine worker for (a preset's memory estimate, how tasks split), requested again
// whenever one of `deps` changes (compared by identity, as React compares them: no copy of large task lists). The answer to an older request that arrives late is dropped, so what is shown
// always matches the current inputs; while the first answer is pending the value is null.

import { useEffect, useState } from 'react';
import type { RequestOf, Results } from '../worker/protocol';
import { getEngine } from './engineClient';

export function useEngineResult<T extends keyof Results>(type: T, payload: RequestOf<T> | null, deps: unknown[]):
  { value: Results[T] | null; error: string | null } {
  const [state, setState] = useState<{ value: Results[T] | null; error: string | null }>({ value: null, error: null });
  useEffect(() => {
    if (payload === null) return;
    let current = true;
    getEngine().request(type, payload).then(
      (value) => current && setState({ value, error: null }),
      (e: Error) => current && setState({ value: null, error: e.message }),
    );
    return () => { current = false; };
  }, [type, payload === null, ...deps]); // eslint-disable-line react-hooks/exhaustive-deps
  return state;
}
