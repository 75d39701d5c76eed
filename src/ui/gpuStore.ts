// What the page knows about the GPU: the adapter found by the engine worker and the self-test result.

import { create } from 'zustand';
import type { GpuProbe, SelfTestResult } from '../worker/protocol';
import { getEngine } from './engineClient';

type Status = 'idle' | 'probing' | 'ready' | 'unavailable';

interface GpuState {
  status: Status;
  info: GpuProbe | null;
  error: { name: string; message: string } | null;
  selfTest: SelfTestResult | null;
  selfTestError: string | null;
  probe(): Promise<void>;
  /** Asks again for the adapter's kernel variants (measured at the first model load), keeping the rest. */
  refreshKernels(): Promise<void>;
}

export const useGpu = create<GpuState>((set, get) => ({
  status: 'idle',
  info: null,
  error: null,
  selfTest: null,
  selfTestError: null,
  async refreshKernels() {
    if (get().status !== 'ready') return;
    try {
      set({ info: await getEngine().request('probe') });
    } catch {
      // the panel keeps what it showed; a lost device is reported by its own event
    }
  },
  async probe() {
    set({ status: 'probing', error: null, selfTest: null, selfTestError: null });
    try {
      const info = await getEngine().request('probe');
      set({ status: 'ready', info });
    } catch (e) {
      const err = e as Error;
      set({ status: 'unavailable', error: { name: err.name, message: err.message } });
      return;
    }
    try {
      set({ selfTest: await getEngine().request('selfTest') });
    } catch (e) {
      set({ selfTestError: (e as Error).message });
    }
  },
}));
