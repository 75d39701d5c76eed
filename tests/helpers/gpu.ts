// One GPU context per test file. Creating it throws (and so fails the suite loudly) when no adapter exists:
// tests never skip for lack of a GPU.

import { GpuContext } from '../../src/gpu/context';

let shared: Promise<GpuContext> | null = null;

export function gpu(): Promise<GpuContext> {
  return (shared ??= GpuContext.create());
}
