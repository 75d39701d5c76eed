// The loaded model as the page sees it: what was picked, download and load progress, the summary the engine
// returns, and the error to show. A Hub model (preset or repository) is remembered and loaded again after a
// reload from the browser's cache; local files cannot be reopened without the user, so they are not.

import { create } from 'zustand';
import type { BaseQuant } from '../../model/weights';
import type { ModelSource, ModelSummary } from '../../worker/protocol';
import { getEngine } from '../engineClient';
import { loadValue, saveValue } from './persist';
import { useGpu } from '../gpuStore';

export type RemoteSource = Extract<ModelSource, { kind: 'preset' | 'hub' }>;

export interface LoadProgress {
  phase: 'download' | 'load';
  label: string;
  done: number;
  total: number | null;
}

interface ModelState {
  status: 'none' | 'loading' | 'ready' | 'error';
  summary: ModelSummary | null;
  progress: LoadProgress | null;
  error: string | null;
  quant: BaseQuant;
  /** The last remote model loaded (reloaded at start-up). */
  remembered: { source: RemoteSource; quant: BaseQuant } | null;
  setQuant(q: BaseQuant): void;
  load(source: ModelSource, quant?: BaseQuant): Promise<boolean>;
  /** The GPU device was lost: the weights are gone. */
  lost(message: string): void;
  restore(): Promise<void>;
}

/** Hub mirror or test server: `?hub=https://…` on the page URL. */
export function hubEndpoint(): string | undefined {
  return new URLSearchParams(globalThis.location?.search ?? '').get('hub') ?? undefined;
}

export const useModel = create<ModelState>((set, get) => ({
  status: 'none',
  summary: null,
  progress: null,
  error: null,
  quant: 'keep',
  remembered: null,
  setQuant: (quant) => set({ quant }),
  async load(source, quant = get().quant) {
    set({ status: 'loading', error: null, progress: null, quant });
    const engine = getEngine();
    const off = engine.subscribe((e) => {
      if (e.kind === 'progress' && (e.phase === 'download' || e.phase === 'load')) {
        set({ progress: { phase: e.phase, label: e.label, done: e.done, total: e.total } });
      }
    });
    try {
      const summary = await engine.request('loadModel', { source, quant, hubEndpoint: hubEndpoint() });
      set({ status: 'ready', summary, progress: null });
      void useGpu.getState().refreshKernels(); // measured for this GPU by the first load
      if (source.kind !== 'files') {
        const remembered = { source, quant };
        set({ remembered });
        void saveValue('model', remembered);
      }
      return true;
    } catch (e) {
      set({ status: 'error', error: (e as Error).message, progress: null, summary: null });
      return false;
    } finally {
      off();
    }
  },
  lost(message) {
    set({
      status: 'error',
      summary: null,
      error: `The GPU device was lost (${message}). Load the model again; runs resume from their last checkpoint.`,
    });
  },
  async restore() {
    const remembered = await loadValue<ModelState['remembered']>('model');
    if (!remembered) return;
    set({ remembered, quant: remembered.quant });
    if (get().status === 'none') await get().load(remembered.source, remembered.quant);
  },
}));
