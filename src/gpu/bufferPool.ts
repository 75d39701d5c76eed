// Size-bucketed pool of GPU buffers. Allocation is slow on every backend and training allocates the same
// shapes each step, so released buffers are kept by (usage, bucket) and handed out again.
//
// Reuse is safe without fences: GPU work runs in queue order, so a buffer released after its last use was
// *recorded* may be rewritten by any later-recorded command. Host writes (queue.writeBuffer) are the exception;
// GpuContext flushes pending commands before each one.

import { GpuLimitError } from './errors';
import { fmtBytes } from '../util/format';

/** Rounds up to 2^k·{1, 1.25, 1.5, 1.75} (at most 25% waste), 256 bytes minimum. */
export function bucketSize(bytes: number): number {
  if (bytes <= 256) return 256;
  const pow = 2 ** Math.floor(Math.log2(bytes));
  for (const f of [1, 1.25, 1.5, 1.75, 2]) {
    if (pow * f >= bytes) return pow * f;
  }
  return pow * 2;
}

export class BufferPool {
  private free = new Map<string, GPUBuffer[]>();
  private freeBytes = 0;
  /** Bytes currently handed out, and the most ever handed out at once. */
  inUseBytes = 0;
  peakBytes = 0;

  constructor(
    private device: GPUDevice,
    private maxBufferSize: number,
    /** Free bytes kept for reuse before the oldest are destroyed. */
    private maxFreeBytes = 512 * 2 ** 20,
    /** Called just before a buffer is destroyed (the context drops the bind groups that bind it). */
    private onDestroy: (buffer: GPUBuffer) => void = () => {},
  ) {}

  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    if (bytes > this.maxBufferSize) {
      throw new GpuLimitError(
        `A buffer of ${fmtBytes(bytes)} exceeds this GPU's maxBufferSize of ` + `${fmtBytes(this.maxBufferSize)}.`,
      );
    }
    const bucket = Math.min(bucketSize(bytes), this.maxBufferSize);
    const key = `${usage}:${bucket}`;
    const list = this.free.get(key);
    let buffer = list?.pop();
    if (buffer) {
      this.freeBytes -= bucket;
    } else {
      buffer = this.device.createBuffer({ size: bucket, usage, label });
    }
    this.inUseBytes += bucket;
    this.peakBytes = Math.max(this.peakBytes, this.inUseBytes);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    this.inUseBytes -= buffer.size;
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
    this.freeBytes += buffer.size;
    if (this.freeBytes > this.maxFreeBytes) this.trim(this.maxFreeBytes / 2);
  }

  /** Destroys free buffers until at most `keepBytes` remain pooled. */
  trim(keepBytes = 0): void {
    for (const [key, list] of this.free) {
      while (list.length && this.freeBytes > keepBytes) {
        const b = list.pop()!;
        this.freeBytes -= b.size;
        this.onDestroy(b);
        b.destroy();
      }
      if (!list.length) this.free.delete(key);
    }
  }
}
