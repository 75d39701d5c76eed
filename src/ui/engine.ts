// The UI's handle on the engine worker: request/response over postMessage with typed results.

import type { Request, Response, Results } from '../worker/protocol';

export class EngineError extends Error {
  constructor(
    override name: string,
    message: string,
  ) {
    super(message);
  }
}

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

export class EngineClient {
  private worker = new Worker(new URL('../worker/engine.worker.ts', import.meta.url), { type: 'module' });
  private pending = new Map<number, Pending>();
  private nextId = 1;

  constructor() {
    this.worker.onmessage = (event: MessageEvent<Response>) => {
      const res = event.data;
      const p = this.pending.get(res.id);
      if (!p) return;
      this.pending.delete(res.id);
      if (res.type === 'error') p.reject(new EngineError(res.error.name, res.error.message));
      else p.resolve(res.type === 'probe' ? res.info : res.result);
    };
    this.worker.onerror = (event) => {
      const error = new EngineError('WorkerError', event.message || 'The engine worker failed to start.');
      for (const p of this.pending.values()) p.reject(error);
      this.pending.clear();
    };
  }

  request<T extends keyof Results>(type: T): Promise<Results[T]> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, type } as Request);
    });
  }
}
