// Which variant of each kernel family a context runs. A family (matmul, the decoded linear, attention, …) has
// several kernels computing the same thing, each fastest on some hardware: register-blocked without
// workgroup memory on CPU adapters, workgroup-memory tiles on GPUs, subgroup reductions where offered. The
// choice is made by measuring the candidates on this adapter (src/ops/tuning.ts), never by vendor name, and
// kept per adapter and browser (a `KernelChoiceStore`: IndexedDB in the page's worker, a JSON file in Node).
// Until something is measured or forced, each op uses its own default (`isSoftware` picks between two).
// Tests force a variant so each one runs the float64 tests.

/** What was measured for one family on one adapter: the winner and every candidate's median time. */
export interface FamilyChoice {
  variant: string;
  /** Median milliseconds per candidate run; absent for a candidate that failed its check or cannot run. */
  ms: Record<string, number>;
  /** Candidates not chosen because their output differed from the reference variant's, or they threw. */
  rejected?: Record<string, string>;
}

/** Measured choices, stored under a key naming the adapter and the kernels' sources. */
export interface KernelChoiceRecord {
  key: string;
  adapter: string;
  measuredAt: string;
  families: Record<string, FamilyChoice>;
}

/** Where measured choices are kept between sessions. */
export interface KernelChoiceStore {
  /** Human-readable place, for messages ("cached in …"). */
  readonly where: string;
  load(key: string): Promise<KernelChoiceRecord | undefined>;
  save(record: KernelChoiceRecord): Promise<void>;
}

export class KernelChoices {
  private readonly measured = new Map<string, string>();
  private readonly forced = new Map<string, string>();

  /** The variant `family` runs: forced, else measured, else the op's `fallback`. */
  variant<V extends string>(family: string, fallback: V): V {
    return (this.forced.get(family) ?? this.measured.get(family) ?? fallback) as V;
  }

  /** The variant forced for `family`, if any. */
  forcedFor(family: string): string | undefined {
    return this.forced.get(family);
  }

  /** Adopts measured choices (a tuning run, or a record loaded from a store). */
  adopt(families: Record<string, FamilyChoice>): void {
    for (const [family, c] of Object.entries(families)) this.measured.set(family, c.variant);
  }

  /** Forces `variant` for `family` over any measurement (tests, `--kernels family=variant`); undefined clears. */
  force(family: string, variant: string | undefined): void {
    if (variant === undefined) this.forced.delete(family);
    else this.forced.set(family, variant);
  }

  /** Forgets measured and forced choices: every op back to its default. */
  clear(): void {
    this.measured.clear();
    this.forced.clear();
  }

  /** The families with a measured or forced variant, forced ones winning. */
  get current(): Record<string, string> {
    return Object.fromEntries([...this.measured, ...this.forced]);
  }
}
