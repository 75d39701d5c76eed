// The only coupling between the UI and the engine: typed messages to and from the engine worker.

import type { GpuInfo } from '../gpu/context';

export interface SelfTestResult {
  /** The small product shown on the page: [[1,2,3],[4,5,6]]·[[7,8],[9,10],[11,12]]. */
  small: number[];
  /** A random product at awkward sizes checked against the float64 reference. */
  shape: [number, number, number];
  maxAbsError: number;
  bound: number;
  pass: boolean;
  kernel: string;
  ms: number;
}

export type Request =
  | { id: number; type: 'probe' }
  | { id: number; type: 'selfTest' };

export type Response =
  | { id: number; type: 'probe'; info: GpuInfo }
  | { id: number; type: 'selfTest'; result: SelfTestResult }
  | { id: number; type: 'error'; error: { name: string; message: string } };

/** Result type of each request. */
export interface Results {
  probe: GpuInfo;
  selfTest: SelfTestResult;
}
