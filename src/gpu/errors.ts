// Errors the GPU layer raises. Each one says what went wrong and what the caller can do,
// so the UI and CLI can show it as is and act on its type (e.g. offer to resume after a lost device).

/** No WebGPU implementation or no adapter could be found. */
export class GpuUnavailableError extends Error {
  override name = 'GpuUnavailableError';
}

/** The device was lost (driver reset, tab backgrounded too long, destroy()). Everything on it is gone. */
export class DeviceLostError extends Error {
  override name = 'DeviceLostError';
  constructor(
    readonly reason: string,
    detail: string,
  ) {
    super(
      `The GPU device was lost (${reason}): ${detail || 'no detail given'}. ` +
        'Everything on the GPU is gone; create a new context and resume from the last checkpoint.',
    );
  }
}

/** A request exceeds what this adapter allows (buffer size, binding size, workgroups). */
export class GpuLimitError extends Error {
  override name = 'GpuLimitError';
}

/** WebGPU reported a validation or out-of-memory error for work we recorded: a bug or an exhausted GPU. */
export class GpuValidationError extends Error {
  override name = 'GpuValidationError';
}
