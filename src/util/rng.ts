// The training's only source of randomness: xoshiro128** with a 4×u32 state that serialises into a
// checkpoint, so a resumed run draws exactly what an uninterrupted one would. Separate concerns (episode
// sampling, dropout seeds, adapter init, data splits) use separate streams derived by label, so adding a draw
// to one never shifts the others: same seed → same episodes → same curves.

export type RngState = [number, number, number, number];

export class RngStateError extends Error {
  override name = 'RngStateError';
}

/** splitmix32 step: spreads a seed's bits over the state (xoshiro must never start from near-zero). */
function splitmix32(x: number): [number, number] {
  const next = (x + 0x9e3779b9) >>> 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return [next, (z ^ (z >>> 16)) >>> 0];
}

/** FNV-1a over the label's UTF-16 code units: a stable 32-bit hash in every JS engine. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function stateFromWords(words: number[]): RngState {
  let x = 0;
  for (const w of words) x = splitmix32((x ^ w) >>> 0)[1];
  const state: number[] = [];
  for (let i = 0; i < 4; i++) {
    const [next, out] = splitmix32(x);
    x = next;
    state.push(out);
  }
  if (!state.some((s) => s !== 0)) state[0] = 1;
  return state as RngState;
}

export class Rng {
  private s: RngState;

  private constructor(state: RngState) {
    this.s = state;
  }

  /** A stream from an integer seed (any safe integer; both 32-bit halves are used). */
  static fromSeed(seed: number): Rng {
    if (!Number.isSafeInteger(seed)) throw new RngStateError(`seed must be a safe integer, got ${seed}`);
    return new Rng(stateFromWords([seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0]));
  }

  static fromState(state: readonly number[]): Rng {
    const r = new Rng([1, 0, 0, 0]);
    r.setState(state);
    return r;
  }

  /**
   * An independent child stream named `label`, from this stream's current state and the label; the parent
   * does not advance. Derive all children up front from a fresh root so they do not depend on draw order.
   */
  derive(label: string): Rng {
    return new Rng(stateFromWords([...this.s, hashLabel(label), label.length]));
  }

  getState(): RngState {
    return [...this.s];
  }

  setState(state: readonly number[]): void {
    if (state.length !== 4 || !state.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff)) {
      throw new RngStateError(`RNG state must be 4 unsigned 32-bit integers, got ${JSON.stringify(state)}`);
    }
    if (state.every((w) => w === 0)) throw new RngStateError('RNG state must not be all zeros');
    this.s = [state[0], state[1], state[2], state[3]];
  }

  /** Next uniform 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] = (s[2] ^ s[0]) >>> 0;
    s[3] = (s[3] ^ s[1]) >>> 0;
    s[1] = (s[1] ^ s[2]) >>> 0;
    s[0] = (s[0] ^ s[3]) >>> 0;
    s[2] = (s[2] ^ t) >>> 0;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits (two draws), so every double in the grid is reachable. */
  next(): number {
    const hi = this.nextU32() >>> 5;
    const lo = this.nextU32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform integer in [0, n), unbiased (rejection of the short last interval), n ≤ 2^32. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > 2 ** 32)
      throw new RangeError(`int(n) needs an integer 1 ≤ n ≤ 2^32, got ${n}`);
    const limit = 2 ** 32 - (2 ** 32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** Fisher–Yates in place; returns the same array. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** k distinct indices from [0, n) in random order (partial Fisher–Yates). */
  sample(n: number, k: number): number[] {
    if (!Number.isInteger(n) || !Number.isInteger(k) || k < 0 || n < 0 || k > n) {
      throw new RangeError(`cannot sample ${k} distinct items from ${n}`);
    }
    const pool = Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < k; i++) {
      const j = i + this.int(n - i);
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    return pool.slice(0, k);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
