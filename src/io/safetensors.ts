// safetensors: u64 LE header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
// "__metadata__": {str: str}}, then the data (offsets relative to its start, contiguous, C order, little-endian).
// The reader validates strictly (a file that passes loads anywhere); the writer pads the header to 8 bytes.

import type { ByteSource } from './byteSource';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<SafetensorsDtype, number> = {
  F64: 8,
  I64: 8,
  F32: 4,
  I32: 4,
  F16: 2,
  BF16: 2,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export interface SafetensorsTensorInfo {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  tensors: SafetensorsTensorInfo[];
  /** Byte offset where the data section starts. */
  dataOffset: number;
}

/** Header JSON larger than this is refused (real files have a few hundred KB at most). */
const MAX_HEADER_BYTES = 100 * 2 ** 20;

export async function readSafetensors(src: ByteSource): Promise<SafetensorsFile> {
  if (src.size < 8) throw new SafetensorsError(`${src.name}: too short to be a safetensors file (${src.size} bytes).`);
  const n = Number(new DataView((await src.read(0, 8)).slice().buffer).getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > src.size) {
    throw new SafetensorsError(
      `${src.name}: header length ${n} is impossible for a ${src.size}-byte file ` +
        '(not a safetensors file, or truncated).',
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(await src.read(8, n)));
  } catch (e) {
    throw new SafetensorsError(`${src.name}: header is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(`${src.name}: header is not a JSON object.`);
  }
  const dataOffset = 8 + n;
  const dataSize = src.size - dataOffset;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  if (typeof metadata !== 'object' || Object.values(metadata).some((v) => typeof v !== 'string')) {
    throw new SafetensorsError(`${src.name}: __metadata__ must map strings to strings.`);
  }
  const tensors: SafetensorsTensorInfo[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const t = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = t?.dtype as SafetensorsDtype;
    if (!(dtype in DTYPE_BYTES))
      throw new SafetensorsError(`${src.name}: tensor ${name} has unsupported dtype ${String(t?.dtype)}.`);
    const shape = t.shape;
    const offs = t.data_offsets;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${src.name}: tensor ${name} has an invalid shape ${JSON.stringify(shape)}.`);
    }
    if (
      !Array.isArray(offs) ||
      offs.length !== 2 ||
      !offs.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offs[1] < offs[0]
    ) {
      throw new SafetensorsError(`${src.name}: tensor ${name} has invalid data_offsets ${JSON.stringify(offs)}.`);
    }
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    const byteLength = offs[1] - offs[0];
    if (byteLength !== count * DTYPE_BYTES[dtype]) {
      throw new SafetensorsError(
        `${src.name}: tensor ${name} ${dtype} [${shape}] should take ${count * DTYPE_BYTES[dtype]} ` +
          `bytes but its offsets span ${byteLength}.`,
      );
    }
    if (offs[1] > dataSize) {
      throw new SafetensorsError(
        `${src.name}: tensor ${name} ends at ${offs[1]}, past the data section (${dataSize} bytes); ` +
          'the file is truncated.',
      );
    }
    tensors.push({ name, dtype, shape, offset: dataOffset + offs[0], byteLength });
  }
  // Strict: tensors tile the data section exactly, without gaps or overlaps.
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  let expected = dataOffset;
  for (const t of sorted) {
    if (t.offset !== expected) {
      throw new SafetensorsError(
        `${src.name}: tensor ${t.name} starts at ${t.offset - dataOffset}, expected ` +
          `${expected - dataOffset} (data must be contiguous without gaps or overlaps).`,
      );
    }
    expected += t.byteLength;
  }
  if (expected !== src.size)
    throw new SafetensorsError(`${src.name}: ${src.size - expected} trailing bytes after the last tensor.`);
  return { metadata, tensors, dataOffset };
}

export interface SafetensorsTensorData {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  data: Uint8Array;
}

/** Writes tensors in the given order; returns [header, ...data] parts. */
export function writeSafetensors(tensors: SafetensorsTensorData[], metadata?: Record<string, string>): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.dtype];
    if (bytes !== t.data.byteLength)
      throw new Error(`${t.name}: ${t.dtype} [${t.shape}] needs ${bytes} bytes, got ${t.data.byteLength}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).byteLength) % 8)) % 8);
  const jsonBytes = new TextEncoder().encode(json);
  const head = new Uint8Array(8 + jsonBytes.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(jsonBytes.byteLength), true);
  head.set(jsonBytes, 8);
  return [head, ...tensors.map((t) => t.data)];
}
