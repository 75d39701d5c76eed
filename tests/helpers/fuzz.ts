// Property-based fuzzing of the file readers with fast-check: a user's file, broken in every way a disk, a
// download or a hostile author can break it, must end in a valid result or in one of the reader's own errors
// with a message — never a TypeError or RangeError from deep inside, never a crash or a hang, never an
// allocation far beyond the file. Inputs are seed files (written by the repo's own writers, or the real small
// files in ../shared) edited by a short recipe of mutations, or random bytes. The recipe, not the bytes, is
// what fast-check generates and shrinks, so a failure prints a few edits rather than a megabyte.
//
// Every run draws a fresh seed and prints it in the test name; FUZZ_SEED=n replays a run, FUZZ_RUNS=n changes
// the number of cases per reader (default 200).

import fc from 'fast-check';
import { expect } from 'vitest';

export { fc };

export const FUZZ_RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 200;

/** The run's seed: FUZZ_SEED when set (to replay a failure), else a fresh one. */
export function fuzzSeed(): number {
  return process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : (Math.random() * 2 ** 31) >>> 0;
}

/** fast-check parameters for one reader's property: the run's seed and FUZZ_RUNS cases. */
export const fuzzParams = (seed: number) => ({ seed, numRuns: FUZZ_RUNS, endOnFailure: true });

// ---------------------------------------------------------------------------------------------------------
// Byte mutations

/**
 * One edit. Positions are taken modulo the current length (edits apply in order, so the file may have shrunk);
 * `head` confines the position to the first `headBytes` of the seed, where headers and their sizes live.
 */
export type Mutation =
  | { op: 'truncate'; pos: number; head: boolean }
  | { op: 'flip'; pos: number; head: boolean; bit: number }
  | { op: 'byte'; pos: number; head: boolean; value: number }
  | { op: 'int'; pos: number; head: boolean; width: 4 | 8; value: IntChoice }
  | { op: 'delete'; pos: number; head: boolean; len: number }
  | { op: 'insert'; pos: number; head: boolean; bytes: Uint8Array }
  | { op: 'duplicate'; pos: number; head: boolean; len: number };

/** A size, count or offset that lies: a boundary value, the file's size nearby, or the old value nudged. */
export type IntChoice =
  { kind: 'fixed'; value: bigint } | { kind: 'size'; delta: number } | { kind: 'nudge'; delta: number };

const BOUNDARIES = [
  0n,
  1n,
  2n,
  3n,
  8n,
  31n,
  32n,
  0x7fn,
  0x80n,
  0xffn,
  0xffffn,
  0x7fffffffn,
  0x80000000n,
  0xffffffffn,
  2n ** 32n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

const intChoice: fc.Arbitrary<IntChoice> = fc.oneof(
  fc.constantFrom(...BOUNDARIES).map((value) => ({ kind: 'fixed' as const, value })),
  fc.integer({ min: -64, max: 64 }).map((delta) => ({ kind: 'size' as const, delta })),
  fc.integer({ min: -16, max: 16 }).map((delta) => ({ kind: 'nudge' as const, delta })),
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('truncate' as const), pos: fc.nat(), head: fc.boolean() }),
  fc.record({ op: fc.constant('flip' as const), pos: fc.nat(), head: fc.boolean(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('byte' as const), pos: fc.nat(), head: fc.boolean(), value: fc.nat(255) }),
  fc.record({
    op: fc.constant('int' as const),
    pos: fc.nat(),
    head: fc.boolean(),
    width: fc.constantFrom(4 as const, 8 as const),
    value: intChoice,
  }),
  fc.record({
    op: fc.constant('delete' as const),
    pos: fc.nat(),
    head: fc.boolean(),
    len: fc.integer({ min: 1, max: 64 }),
  }),
  fc.record({
    op: fc.constant('insert' as const),
    pos: fc.nat(),
    head: fc.boolean(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({
    op: fc.constant('duplicate' as const),
    pos: fc.nat(),
    head: fc.boolean(),
    len: fc.integer({ min: 1, max: 64 }),
  }),
);

/** One to four edits. */
export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

/** Text that means something to a parser: quotes, delimiters, line ends, brackets, escapes, BOMs, non-ASCII. */
export const SYNTAX = [
  '"',
  '""',
  ',',
  ';',
  '\t',
  '\n',
  '\r\n',
  '\r',
  '{',
  '}',
  '[',
  ']',
  ':',
  '\\',
  '\ufeff',
  'é',
  '🙂',
  '\u2028',
  ' ',
  'null',
  '1e999',
  '-0',
  '"a"',
  '{"a": 1}',
  '[]',
  'prompt',
  'completion',
  'label',
  'question',
  'answer',
];

/** Edits of a text file: byte edits, or parser-meaningful text inserted (as UTF-8) where bytes would break it. */
export const textMutations = fc.array(
  fc.oneof(
    mutation,
    fc.record({
      op: fc.constant('insert' as const),
      pos: fc.nat(),
      head: fc.boolean(),
      bytes: fc
        .array(fc.constantFrom(...SYNTAX), { minLength: 1, maxLength: 6 })
        .map((t) => new TextEncoder().encode(t.join(''))),
    }),
  ),
  { minLength: 1, maxLength: 5 },
);

const MASK64 = 2n ** 64n - 1n;

function writeInt(out: Uint8Array, at: number, width: 4 | 8, choice: IntChoice): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const old = width === 8 ? view.getBigUint64(at, true) : BigInt(view.getUint32(at, true));
  const value =
    choice.kind === 'fixed'
      ? choice.value
      : choice.kind === 'size'
        ? BigInt(out.length + choice.delta)
        : old + BigInt(choice.delta);
  const bits = value & (width === 8 ? MASK64 : 0xffffffffn);
  if (width === 8) view.setBigUint64(at, bits, true);
  else view.setUint32(at, Number(bits), true);
}

/**
 * `seed` with the edits applied in order. The seed is never written: bytes are copied once, on the first edit
 * that writes in place (copies of a megabyte are what a case costs on a loaded machine, so none is wasted).
 */
export function mutate(seed: Uint8Array, edits: readonly Mutation[], headBytes = 4096): Uint8Array {
  let out = seed;
  let owned = false;
  const writable = () => {
    if (!owned) out = concat(out);
    owned = true;
    return out;
  };
  for (const m of edits) {
    const span = m.head ? Math.min(headBytes, out.length) : out.length;
    const pos = span === 0 ? 0 : m.pos % span;
    switch (m.op) {
      case 'truncate':
        out = out.subarray(0, pos);
        break;
      case 'flip':
        if (pos < out.length) writable()[pos] ^= 1 << m.bit;
        break;
      case 'byte':
        if (pos < out.length) writable()[pos] = m.value;
        break;
      case 'int':
        if (pos + m.width <= out.length) writeInt(writable(), pos, m.width, m.value);
        break;
      case 'delete':
        out = concat(out.subarray(0, pos), out.subarray(pos + m.len));
        owned = true;
        break;
      case 'insert':
        out = concat(out.subarray(0, pos), m.bytes, out.subarray(pos));
        owned = true;
        break;
      case 'duplicate':
        out = concat(out.subarray(0, pos + m.len), out.subarray(pos));
        owned = true;
        break;
    }
  }
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Random bytes, optionally after a fixed prefix (a format's magic number, so parsing goes past the first check). */
export const randomBytes = (prefix: Uint8Array = new Uint8Array(0), maxLength = 2048) =>
  fc.uint8Array({ maxLength }).map((b) => concat(prefix, b));

// ---------------------------------------------------------------------------------------------------------
// JSON mutations (config files, headers, tokenizer.json): edit a parsed document, then serialize it

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Values that tend to break readers: wrong types, empty containers, huge, negative and fractional numbers. */
export const nastyJson: fc.Arbitrary<JsonValue> = fc.oneof(
  fc.constantFrom<JsonValue>(
    null,
    true,
    false,
    0,
    -1,
    1,
    0.5,
    -0.5,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    2 ** 64,
    1e12,
    1e308,
    -1e308,
    '',
    'F32',
    'BF16',
    'I64',
    'Q8_0',
    'llama',
    'qwen2',
    'LORA',
    'MTL_LORA',
    'half',
    'adjacent',
    '__proto__',
    [],
    {},
    [0],
    [1e12, 1e12],
    [-1, 4],
    [0, 2 ** 53],
    ['a', 'a'],
    { a: 1 },
  ),
  fc.integer({ min: -1000, max: 1 << 20 }),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<JsonValue>,
);

export interface JsonEdit {
  /** Which node (taken modulo the number of nodes, in depth-first order; 0 is the root). */
  pick: number;
  op: 'replace' | 'delete' | 'insert';
  key: string;
  value: JsonValue;
}

export const jsonEdits = fc.array(
  fc.record({
    pick: fc.nat(),
    op: fc.constantFrom('replace' as const, 'delete' as const, 'insert' as const),
    key: fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom('dtype', 'shape', 'data_offsets', '__metadata__', 'r', 'tasks'),
    ),
    value: nastyJson,
  }),
  { minLength: 1, maxLength: 3 },
);

type Slot = { parent: JsonValue[] | Record<string, JsonValue> | null; key: string | number; node: JsonValue };

function nodes(root: JsonValue, limit = 100_000): Slot[] {
  const out: Slot[] = [];
  const walk = (parent: Slot['parent'], key: string | number, node: JsonValue) => {
    if (out.length >= limit) return;
    out.push({ parent, key, node });
    if (Array.isArray(node)) node.forEach((v, i) => walk(node, i, v));
    else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) walk(node, k, v);
  };
  walk(null, '', root);
  return out;
}

/** The document with the edits applied (a deep copy). */
export function editJson(doc: JsonValue, edits: readonly JsonEdit[]): JsonValue {
  let root = structuredClone(doc);
  for (const edit of edits) {
    // A copy of the value: fast-check hands out its constants by reference, and an edit that lands inside an
    // earlier inserted constant would otherwise change the constant itself (and could make it contain itself).
    const e = { ...edit, value: structuredClone(edit.value) };
    const all = nodes(root);
    const { parent, key, node } = all[e.pick % all.length];
    if (e.op === 'insert' && node && typeof node === 'object') {
      if (Array.isArray(node)) node.splice(e.pick % (node.length + 1), 0, e.value);
      else Object.defineProperty(node, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
    } else if (e.op === 'delete' && parent) {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key as string];
    } else if (parent) {
      (parent as Record<string | number, JsonValue>)[key] = e.value;
    } else {
      root = e.value;
    }
  }
  return root;
}

// ---------------------------------------------------------------------------------------------------------
// Outcomes

type ErrorClass = abstract new (...args: never[]) => Error;

/** Extra ArrayBuffer memory a case may hold at its end: a reader must not allocate far beyond its input. */
const memoryAllowance = (inputBytes: number) => 64 * 2 ** 20 + 8 * inputBytes;

/**
 * Runs one case: it must return, or throw one of `allowed` (exactly those classes, with a message), and must
 * not hold much more ArrayBuffer memory than its input. Returns the result, or null when it was refused.
 */
export async function outcome<T>(
  allowed: readonly ErrorClass[],
  inputBytes: number,
  run: () => T | Promise<T>,
): Promise<T | null> {
  const before = process.memoryUsage().arrayBuffers;
  let result: T | null = null;
  try {
    result = await run();
  } catch (e) {
    const known = allowed.some((c) => e instanceof c && Object.getPrototypeOf(e) === c.prototype);
    if (!known || !(e as Error).message) {
      const err = e as Error;
      throw new Error(
        `unexpected ${err?.name ?? typeof e} (expected ${allowed.map((c) => c.name).join(' | ')}): ` +
          `${err?.message}\n${err?.stack ?? ''}`,
      );
    }
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  expect(grown, 'ArrayBuffer memory held after the case').toBeLessThan(memoryAllowance(inputBytes));
  return result;
}
