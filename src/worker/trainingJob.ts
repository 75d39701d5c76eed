// The user's hold on a running training: pause, resume and stop, applied between iterations through the
// driver's control hook (src/train/run.ts). Between iterations the job also gives the GPU lock back, so other
// work (an evaluation, the playground) can run while training is paused or in the gap between two steps.

import type { RunControl } from './protocol';
import type { GpuLock } from './gpuLock';

export class TrainingJob {
  private paused = false;
  private stopped = false;
  private wake: (() => void) | null = null;
  private release: (() => void) | null = null;

  constructor(
    readonly runId: string,
    private lock: GpuLock,
    /** Told when the run starts waiting (paused) or goes on (running), with the iterations completed. */
    private onState: (state: 'running' | 'paused', completed: number) => void,
  ) {}

  /** Takes the GPU before the run starts. */
  async start(): Promise<void> {
    this.release = await this.lock.acquire();
  }

  /** Gives the GPU back for good (the run ended, however it ended). */
  finish(): void {
    this.release?.();
    this.release = null;
  }

  apply(action: RunControl): void {
    if (action === 'pause') this.paused = true;
    if (action === 'resume') this.paused = false;
    if (action === 'stop') this.stopped = true;
    if (action !== 'pause') this.wake?.();
  }

  /** The driver's control hook: false stops the run (it saves a checkpoint), a pending promise pauses it. */
  readonly control = async (completed: number): Promise<boolean> => {
    this.finish();
    if (this.paused && !this.stopped) {
      this.onState('paused', completed);
      while (this.paused && !this.stopped)
        await new Promise<void>((r) => {
          this.wake = r;
        });
      this.wake = null;
      if (!this.stopped) this.onState('running', completed);
    }
    // Stopping saves a checkpoint, which reads the GPU: take the lock either way.
    this.release = await this.lock.acquire();
    return !this.stopped;
  };
}
