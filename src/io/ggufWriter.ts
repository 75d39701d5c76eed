// GGUF v3 writer: for tests that build models in real files, and for exports (LoRA adapters, merged models).
// Returns the file as a list of parts (header, then each tensor with its padding) so a large file can become a
// Blob or a stream without one giant buffer.

import { GGUF_TYPE } from './gguf';
import { type GgmlTypeName, ggmlBytes, ggmlTypeByName } from './ggml';

type ScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;

export type GgufEntry =
  | { key: string; type: ScalarType; value: number | bigint | boolean | string }
  | { key: string; type: 'array'; itemType: ScalarType; value: ArrayLike<number | bigint | boolean | string> };

export interface GgufTensorData {
  name: string;
  type: GgmlTypeName;
  /** Row-major shape; written fastest-first as GGUF wants. */
  shape: number[];
  data: Uint8Array;
}

class Writer {
  parts: number[] = [];
  private bytes: Uint8Array[] = [];
  private enc = new TextEncoder();
  length = 0;

  push(b: Uint8Array): void {
    this.bytes.push(b);
    this.length += b.byteLength;
  }

  scalar(type: ScalarType, value: number | bigint | boolean | string): void {
    if (type === 'string') return this.string(value as string);
    const size = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, f32: 4, bool: 1, u64: 8, i64: 8, f64: 8 }[type];
    const b = new Uint8Array(size);
    const v = new DataView(b.buffer);
    switch (type) {
      case 'u8':
        v.setUint8(0, Number(value));
        break;
      case 'i8':
        v.setInt8(0, Number(value));
        break;
      case 'u16':
        v.setUint16(0, Number(value), true);
        break;
      case 'i16':
        v.setInt16(0, Number(value), true);
        break;
      case 'u32':
        v.setUint32(0, Number(value), true);
        break;
      case 'i32':
        v.setInt32(0, Number(value), true);
        break;
      case 'f32':
        v.setFloat32(0, Number(value), true);
        break;
      case 'bool':
        v.setUint8(0, value ? 1 : 0);
        break;
      case 'u64':
        v.setBigUint64(0, BigInt(value as number), true);
        break;
      case 'i64':
        v.setBigInt64(0, BigInt(value as number), true);
        break;
      case 'f64':
        v.setFloat64(0, Number(value), true);
        break;
    }
    this.push(b);
  }

  string(s: string): void {
    const b = this.enc.encode(s);
    this.scalar('u64', b.byteLength);
    this.push(b);
  }

  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const b of this.bytes) {
      out.set(b, o);
      o += b.byteLength;
    }
    return out;
  }
}

export function writeGguf(entries: GgufEntry[], tensors: GgufTensorData[], alignment = 32): Uint8Array[] {
  const w = new Writer();
  w.push(new TextEncoder().encode('GGUF'));
  w.scalar('u32', 3);
  const all =
    alignment === 32 || entries.some((e) => e.key === 'general.alignment')
      ? entries
      : [...entries, { key: 'general.alignment', type: 'u32' as const, value: alignment }];
  w.scalar('u64', tensors.length);
  w.scalar('u64', all.length);
  for (const e of all) {
    w.string(e.key);
    w.scalar('u32', GGUF_TYPE[e.type]);
    if (e.type === 'array') {
      w.scalar('u32', GGUF_TYPE[e.itemType]);
      w.scalar('u64', e.value.length);
      for (let i = 0; i < e.value.length; i++) w.scalar(e.itemType, e.value[i]);
    } else {
      w.scalar(e.type, e.value);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const type = ggmlTypeByName.get(t.type)!;
    const expected = ggmlBytes(
      type,
      t.shape.reduce((a, b) => a * b, 1),
    );
    if (t.data.byteLength !== expected)
      throw new Error(`${t.name}: ${t.type} [${t.shape}] needs ${expected} bytes, got ${t.data.byteLength}`);
    offsets.push(offset);
    w.string(t.name);
    w.scalar('u32', t.shape.length);
    for (const d of [...t.shape].reverse()) w.scalar('u64', d);
    w.scalar('u32', type.id);
    w.scalar('u64', offset);
    offset += Math.ceil(t.data.byteLength / alignment) * alignment;
  }
  const header = w.concat();
  const headerPadded = new Uint8Array(Math.ceil(header.byteLength / alignment) * alignment);
  headerPadded.set(header);
  const parts: Uint8Array[] = [headerPadded];
  for (const t of tensors) {
    parts.push(t.data);
    const pad = Math.ceil(t.data.byteLength / alignment) * alignment - t.data.byteLength;
    if (pad) parts.push(new Uint8Array(pad));
  }
  return parts;
}

/** Joins parts into one buffer (tests and small files). */
export function concatParts(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
