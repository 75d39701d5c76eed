// One GPU job at a time. Training holds the lock for one iteration and gives it back between iterations, so
// an evaluation or a playground generation asked for mid-run slots in between instead of interleaving its
// dispatches and buffers with a training step's.

export class GpuLock {
  private tail: Promise<void> = Promise.resolve();

  /** Waits for every earlier holder, then holds the lock until the returned release is called. */
  async acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const before = this.tail;
    this.tail = before.then(() => held);
    await before;
    return release;
  }

  /** Runs `job` holding the lock. */
  async run<T>(job: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await job();
    } finally {
      release();
    }
  }
}
