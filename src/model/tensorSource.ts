// A tensor as a model file offers it: GGUF-style name, row-major shape, stored dtype, and a way to read its
// bytes. Every format (GGUF, llama2.c, Hugging Face safetensors) is turned into a list of these, so loading
// to the GPU is written once.

import type { ByteSource } from '../io/byteSource';
import type { GgmlTypeName } from '../io/ggml';

/** GGML's names for the types a model file may store (src/io/ggml.ts, the one table of them). */
export type StoredDtype = GgmlTypeName;

export interface TensorSource {
  /** GGUF naming: token_embd.weight, blk.N.attn_q.weight, output_norm.weight, … */
  name: string;
  shape: number[];
  dtype: StoredDtype;
  byteLength: number;
  read(): Promise<Uint8Array>;
}

/** A tensor stored contiguously at `offset` in `src`. */
export function fileTensor(
  src: ByteSource,
  name: string,
  shape: number[],
  dtype: StoredDtype,
  offset: number,
  byteLength: number,
): TensorSource {
  return { name, shape, dtype, byteLength, read: () => src.read(offset, byteLength) };
}
