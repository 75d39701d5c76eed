// A GGUF file's metadata with each value's GGUF type, so a merged model can carry the base's KVs over
// unchanged. src/io/gguf.ts decodes values to plain JS numbers, which loses the type (u32 vs i32 vs f32), and
// llama.cpp refuses a key of the wrong type. The file was already validated by readGguf; this re-reads its
// header bytes and keeps (key, type, value) triples in the form ggufWriter.ts writes.

import type { ByteSource } from '../io/byteSource';
import { GGUF_TYPE, readGguf } from '../io/gguf';
import type { GgufEntry } from '../io/ggufWriter';

type ScalarName = Exclude<keyof typeof GGUF_TYPE, 'array'>;

const NAME_OF = new Map(Object.entries(GGUF_TYPE).map(([name, id]) => [id as number, name as keyof typeof GGUF_TYPE]));

export interface GgufMetadata {
  entries: GgufEntry[];
  /** Keys whose values are nested arrays, which ggufWriter cannot write (llama-family files have none). */
  skipped: string[];
}

export async function readGgufMetadata(src: ByteSource): Promise<GgufMetadata> {
  const { dataOffset } = await readGguf(src);
  const bytes = await src.read(0, dataOffset);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  let o = 8; // magic and version
  const u32 = () => {
    o += 4;
    return view.getUint32(o - 4, true);
  };
  const u64 = () => {
    o += 8;
    return Number(view.getBigUint64(o - 8, true));
  };
  const string = () => {
    const n = u64();
    o += n;
    return decoder.decode(bytes.subarray(o - n, o));
  };
  const scalar = (type: ScalarName): number | bigint | boolean | string => {
    const at = o;
    switch (type) {
      case 'string':
        return string();
      case 'u8':
        o += 1;
        return view.getUint8(at);
      case 'i8':
        o += 1;
        return view.getInt8(at);
      case 'bool':
        o += 1;
        return view.getUint8(at) !== 0;
      case 'u16':
        o += 2;
        return view.getUint16(at, true);
      case 'i16':
        o += 2;
        return view.getInt16(at, true);
      case 'u32':
        o += 4;
        return view.getUint32(at, true);
      case 'i32':
        o += 4;
        return view.getInt32(at, true);
      case 'f32':
        o += 4;
        return view.getFloat32(at, true);
      case 'u64':
        o += 8;
        return view.getBigUint64(at, true);
      case 'i64':
        o += 8;
        return view.getBigInt64(at, true);
      case 'f64':
        o += 8;
        return view.getFloat64(at, true);
    }
  };
  /** Skips a value of any type (nested arrays included). */
  const skip = (type: number): void => {
    if (type !== GGUF_TYPE.array) {
      scalar(NAME_OF.get(type) as ScalarName);
      return;
    }
    const item = u32();
    const count = u64();
    for (let i = 0; i < count; i++) skip(item);
  };
  u64(); // tensor count
  const kvCount = u64();
  const entries: GgufEntry[] = [];
  const skipped: string[] = [];
  for (let i = 0; i < kvCount; i++) {
    const key = string();
    const type = u32();
    if (type !== GGUF_TYPE.array) {
      entries.push({ key, type: NAME_OF.get(type) as ScalarName, value: scalar(NAME_OF.get(type) as ScalarName) });
      continue;
    }
    const start = o;
    const item = u32();
    const count = u64();
    if (item === GGUF_TYPE.array) {
      o = start;
      skip(GGUF_TYPE.array);
      skipped.push(key);
      continue;
    }
    const itemType = NAME_OF.get(item) as ScalarName;
    const value: (number | bigint | boolean | string)[] = new Array(count);
    for (let k = 0; k < count; k++) value[k] = scalar(itemType);
    entries.push({ key, type: 'array', itemType, value });
  }
  return { entries, skipped };
}
