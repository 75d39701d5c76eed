// The UI's handle on the engine worker: typed requests (one promise each) and a stream of engine events
// (progress, metrics, run states, generated text) that stores subscribe to.

import type { EngineEvent, Request, RequestOf, Response, Results } from '../worker/protocol';

/** A request the worker answered with an error: `name` is the engine's error class (e.g. DeviceLostError). */
export class WorkerRequestError extends Error {
  constructor(
    override name: string,
    message: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Listener = (event: EngineEvent) => void;

export class EngineClient {
  private worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
  private pending = new Map<number, Pending>();
  private listeners = new Set<Listener>();
  private nextId = 1;

  constructor() {
    this.worker.onmessage = (event: MessageEvent<Response>) => {
      const res = event.data;
      if (res.type === 'event') {
        for (const l of this.listeners) l(res.event);
        return;
      }
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (res.type === 'error') p.reject(new WorkerRequestError(res.error.name, res.error.message));
      else p.resolve(res.result);
    };
    this.worker.onerror = (event) => {
      const error = new WorkerRequestError('WorkerError', event.message || 'The engine worker failed to start.');
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  /** Sends a request; `onId` learns its id first (to match the request's own events, e.g. streamed text). */
  request<T extends keyof Results>(
    type: T,
    payload: RequestOf<T> = {} as RequestOf<T>,
    onId?: (id: number) => void,
  ): Promise<Results[T]> {
    const id = this.nextId++;
    onId?.(id);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, type, ...payload } as Request);
    });
  }

  /** Calls `listener` with every engine event until the returned function is called. */
  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

let shared: EngineClient | null = null;

/** The page's one engine worker, started on first use. */
export function getEngine(): EngineClient {
  return (shared ??= new EngineClient());
}
