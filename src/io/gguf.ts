// GGUF v2/v3 reader: metadata and tensor directory, read incrementally from a ByteSource. Tensor data stays
// in the file until a loader asks for it (by absolute offset). Every size in the header is checked against
// the file before anything is allocated, so a lying or truncated header gives a clear error, not a hang.

import type { ByteSource } from './byteSource';
import { type GgmlType, UNSUPPORTED_GGML_TYPES, ggmlBytes, ggmlTypeById } from './ggml';

export class GgufError extends Error {
  override name = 'GgufError';
}

export type GgufScalar = number | bigint | boolean | string;
export type GgufValue = GgufScalar | GgufValue[] | ArrayLike<number>;

export interface GgufTensorInfo {
  name: string;
  /** Row-major shape (GGUF stores dims fastest-first; this is reversed). */
  shape: number[];
  type: GgmlType;
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  dataOffset: number;
}

/** GGUF metadata value types. */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

const SCALAR_BYTES: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const MAX_DIMS = 4;

/** Sequential reader over a ByteSource that fetches growing chunks as the header is parsed. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  pos = 0;
  private decoder = new TextDecoder('utf-8', { fatal: false });

  constructor(private src: ByteSource) {}

  /** Makes `n` bytes at pos available, or fails clearly if the file is shorter. */
  async need(n: number, what: string): Promise<void> {
    if (this.pos + n > this.src.size) {
      throw new GgufError(
        `${this.src.name}: ${what} needs ${n} bytes at offset ${this.pos}, but the file ends at ` +
          `${this.src.size} (truncated, or the header lies about sizes).`,
      );
    }
    if (this.pos + n <= this.bufStart + this.buf.length) return;
    const len = Math.min(this.src.size - this.pos, Math.max(n, 1 << 20, this.buf.length * 2));
    this.buf = await this.src.read(this.pos, len);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.bufStart = this.pos;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }

  u8 = () => this.view.getUint8(this.at(1));
  u32 = () => this.view.getUint32(this.at(4), true);
  u64(): number {
    const v = this.view.getBigUint64(this.at(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new GgufError(`${this.src.name}: absurd 64-bit value ${v} at ${this.pos - 8}`);
    return Number(v);
  }

  scalar(type: number): GgufScalar {
    const o = this.at(SCALAR_BYTES[type]);
    const v = this.view;
    switch (type) {
      case 0:
        return v.getUint8(o);
      case 1:
        return v.getInt8(o);
      case 2:
        return v.getUint16(o, true);
      case 3:
        return v.getInt16(o, true);
      case 4:
        return v.getUint32(o, true);
      case 5:
        return v.getInt32(o, true);
      case 6:
        return v.getFloat32(o, true);
      case 7:
        return v.getUint8(o) !== 0;
      case 10:
        return safeBig(v.getBigUint64(o, true));
      case 11:
        return safeBig(v.getBigInt64(o, true));
      default:
        return v.getFloat64(o, true);
    }
  }

  async string(what: string): Promise<string> {
    await this.need(8, `${what} length`);
    const len = this.u64();
    await this.need(len, what);
    const o = this.at(len);
    return this.decoder.decode(this.buf.subarray(o, o + len));
  }
}

function safeBig(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

async function readValue(c: Cursor, type: number, key: string): Promise<GgufValue> {
  if (type === GGUF_TYPE.string) return c.string(`value of ${key}`);
  if (type === GGUF_TYPE.array) {
    await c.need(12, `array header of ${key}`);
    const itemType = c.u32();
    const count = c.u64();
    if (itemType === GGUF_TYPE.string) {
      // Each string takes at least its 8-byte length: a count beyond that cannot be true.
      await c.need(count * 8, `${count} strings of ${key}`);
      const out: string[] = new Array(count);
      for (let i = 0; i < count; i++) out[i] = await c.string(`item ${i} of ${key}`);
      return out;
    }
    if (itemType === GGUF_TYPE.array) {
      const out: GgufValue[] = [];
      for (let i = 0; i < count; i++) {
        await c.need(4, `nested array type in ${key}`);
        out.push(await readValue(c, c.u32(), key));
      }
      return out;
    }
    const size = SCALAR_BYTES[itemType];
    if (!size) throw new GgufError(`metadata ${key}: unknown array item type ${itemType}`);
    await c.need(count * size, `${count} items of ${key}`);
    const out: GgufScalar[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = c.scalar(itemType);
    return out as GgufValue;
  }
  const size = SCALAR_BYTES[type];
  if (!size) throw new GgufError(`metadata ${key}: unknown value type ${type}`);
  await c.need(size, `value of ${key}`);
  return c.scalar(type);
}

export async function readGguf(src: ByteSource): Promise<GgufFile> {
  const c = new Cursor(src);
  await c.need(4, 'magic');
  const magic = String.fromCharCode(c.u8(), c.u8(), c.u8(), c.u8());
  if (magic !== 'GGUF') {
    throw new GgufError(`${src.name} is not a GGUF file (magic ${JSON.stringify(magic)}, expected "GGUF").`);
  }
  await c.need(4 + 8 + 8, 'header');
  const version = c.u32();
  if (version !== 2 && version !== 3)
    throw new GgufError(`${src.name}: GGUF version ${version} is not supported (2 or 3).`);
  const tensorCount = c.u64();
  const kvCount = c.u64();
  // Each tensor info takes ≥ 8+4+8+4+8 bytes and each KV ≥ 8+4+1: counts beyond the file size are lies.
  if (tensorCount * 32 + kvCount * 13 > src.size) {
    throw new GgufError(
      `${src.name}: header claims ${tensorCount} tensors and ${kvCount} metadata entries, more than ` +
        `a ${src.size}-byte file can hold (the file is truncated or its header is corrupt).`,
    );
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = await c.string(`metadata key ${i}`);
    await c.need(4, `type of ${key}`);
    metadata.set(key, await readValue(c, c.u32(), key));
  }
  const alignment = Number(metadata.get('general.alignment') ?? 32);
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8) {
    throw new GgufError(`${src.name}: general.alignment ${alignment} is not a positive multiple of 8.`);
  }

  const infos: { name: string; shape: number[]; type: GgmlType; rel: number }[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await c.string(`tensor ${i} name`);
    await c.need(4, `dims of ${name}`);
    const nDims = c.u32();
    if (nDims < 1 || nDims > MAX_DIMS) throw new GgufError(`${src.name}: tensor ${name} has ${nDims} dimensions.`);
    await c.need(8 * nDims + 4 + 8, `info of ${name}`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64());
    const typeId = c.u32();
    const rel = c.u64();
    const type = ggmlTypeById.get(typeId);
    if (!type) {
      const known = UNSUPPORTED_GGML_TYPES[typeId];
      throw new GgufError(
        `${src.name}: tensor ${name} has type ${known ?? `#${typeId}`}, which is not supported ` +
          '(supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K). Re-export the model with one of these.',
      );
    }
    infos.push({ name, shape: dims.reverse(), type, rel });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;

  const tensors = infos.map(({ name, shape, type, rel }) => {
    const count = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(count) || count <= 0)
      throw new GgufError(`${src.name}: tensor ${name} has absurd shape [${shape}].`);
    if (shape[shape.length - 1] % type.blockSize) {
      throw new GgufError(
        `${src.name}: tensor ${name} rows of ${shape[shape.length - 1]} are not whole ${type.name} blocks.`,
      );
    }
    const byteLength = ggmlBytes(type, count);
    const offset = dataOffset + rel;
    if (rel % alignment)
      throw new GgufError(`${src.name}: tensor ${name} data offset ${rel} is not aligned to ${alignment}.`);
    if (offset + byteLength > src.size) {
      throw new GgufError(
        `${src.name}: tensor ${name} [${shape}] ${type.name} needs bytes ${offset}..${offset + byteLength}, ` +
          `past the end of the file (${src.size}); the file is truncated or its header is wrong.`,
      );
    }
    return { name, shape, type, offset, byteLength };
  });
  return { version, metadata, tensors, alignment, dataOffset };
}
