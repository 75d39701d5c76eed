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
}

export const useGpu = create<GpuState>((set) => ({
  status: 'idle',
  info: null,
  error: null,
  selfTest: null,
  selfTestError: null,
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
