// Packing tokenized examples into the batch the training step consumes, and counting tokens for
// throughput. Targets are already shifted: targets[b·S + i] is the token position i must predict, set only
// where that token belongs to the completion (the loss is on completions; prompt and padding are −1).

import type { TrainBatch } from './step';
import type { TokenizedExample } from '../data/tasks';

/** The step's batch (see TrainBatch in step.ts) plus the host-side counts. */
export interface PackedBatch extends TrainBatch {
  /** Scored positions (targets ≠ −1): the loss is averaged over these, so the host knows the scale. */
  scored: number;
  /** Real tokens in the batch (Σ lengths), the unit of tokens/s. */
  tokenCount: number;
}

export interface PackOptions {
  /** Fixed sequence length; by default the longest example's length. */
  S?: number;
  /** Token written into padding (never attended to or scored; 0 is always a valid id). */
  padId?: number;
}

export class BatchError extends Error {
  override name = 'BatchError';
}

export function packBatch(examples: readonly TokenizedExample[], opts: PackOptions = {}): PackedBatch {
  if (examples.length === 0) throw new BatchError('cannot pack an empty batch');
  const longest = Math.max(...examples.map((e) => e.prompt.length + e.completion.length));
  const S = opts.S ?? longest;
  if (!Number.isInteger(S) || S < 1) throw new BatchError(`sequence length must be a positive integer, got ${S}`);
  if (longest > S)
    throw new BatchError(`an example has ${longest} tokens, more than the batch length ${S}; truncate it first`);
  const B = examples.length;
  const tokens = new Uint32Array(B * S).fill(opts.padId ?? 0);
  const targets = new Int32Array(B * S).fill(-1);
  const lengths = new Uint32Array(B);
  let scored = 0;
  examples.forEach((ex, b) => {
    const row = b * S;
    const n = ex.prompt.length + ex.completion.length;
    tokens.set(ex.prompt, row);
    tokens.set(ex.completion, row + ex.prompt.length);
    lengths[b] = n;
    // Position i predicts token i+1; it is scored when token i+1 is a completion token. With an empty
    // prompt the first completion token has no predecessor and cannot be scored.
    for (let i = Math.max(0, ex.prompt.length - 1); i < n - 1; i++) {
      targets[row + i] = tokens[row + i + 1];
      scored++;
    }
  });
  const tokenCount = lengths.reduce((a, b) => a + b, 0);
  return { B, S, tokens, targets, lengths, scored, tokenCount };
}

/**
 * Several tasks' batches as one (MeTA-LoRA's K supports or K queries in one pass): every sequence padded to
 * the longest of all, task after task, so each task's rows are one contiguous group of equal size.
 * seqLens[g] is the length task g's batch has when packed alone, by which dropout numbers its rows.
 */
export interface GroupedBatch {
  batch: PackedBatch;
  tasks: number[];
  seqLens: number[];
}

export function packGroups(groups: readonly { task: number; examples: readonly TokenizedExample[] }[]): GroupedBatch {
  if (groups.length === 0) throw new BatchError('cannot pack zero groups');
  const size = groups[0].examples.length;
  groups.forEach((g) => {
    if (g.examples.length !== size)
      throw new BatchError(`groups must be equal: task ${g.task} has ${g.examples.length} examples, the first ${size}`);
  });
  return {
    batch: packBatch(groups.flatMap((g) => g.examples)),
    tasks: groups.map((g) => g.task),
    seqLens: groups.map((g) => packBatch(g.examples).S),
  };
}

/**
 * Tokens per second over a sliding window of recent steps, so the rate follows the current speed rather
 * than the run's average (which includes pipeline compilation in the first steps). The clock is injectable.
 */
export class ThroughputMeter {
  private samples: { tokens: number; ms: number }[] = [];
  private started = 0;

  constructor(
    private readonly window = 10,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Marks the start of a step. */
  start(): void {
    this.started = this.now();
  }

  /** Ends the step that processed `tokens` tokens; returns the windowed rate. */
  stop(tokens: number): number {
    this.samples.push({ tokens, ms: this.now() - this.started });
    if (this.samples.length > this.window) this.samples.shift();
    return this.rate();
  }

  rate(): number {
    const ms = this.samples.reduce((a, s) => a + s.ms, 0);
    const tokens = this.samples.reduce((a, s) => a + s.tokens, 0);
    return ms > 0 ? (tokens * 1000) / ms : 0;
  }
}
