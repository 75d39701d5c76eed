// GGML tensor types as GGUF stores them: id, block size (values) and block bytes.

export type GgmlTypeName = 'F32' | 'F16' | 'Q4_0' | 'Q8_0' | 'Q4_K' | 'Q6_K' | 'BF16';

export interface GgmlType {
  name: GgmlTypeName;
  id: number;
  blockSize: number;
  blockBytes: number;
}

export const GGML_TYPES: GgmlType[] = [
  { name: 'F32', id: 0, blockSize: 1, blockBytes: 4 },
  { name: 'F16', id: 1, blockSize: 1, blockBytes: 2 },
  { name: 'Q4_0', id: 2, blockSize: 32, blockBytes: 18 },
  { name: 'Q8_0', id: 8, blockSize: 32, blockBytes: 34 },
  { name: 'Q4_K', id: 12, blockSize: 256, blockBytes: 144 },
  { name: 'Q6_K', id: 14, blockSize: 256, blockBytes: 210 },
  { name: 'BF16', id: 30, blockSize: 1, blockBytes: 2 },
];

/** Names of ggml types we cannot load, for clear errors (ids from ggml.h). */
export const UNSUPPORTED_GGML_TYPES: Record<number, string> = {
  3: 'Q4_1',
  6: 'Q5_0',
  7: 'Q5_1',
  9: 'Q8_1',
  10: 'Q2_K',
  11: 'Q3_K',
  13: 'Q5_K',
  15: 'Q8_K',
  16: 'IQ2_XXS',
  17: 'IQ2_XS',
  18: 'IQ3_XXS',
  19: 'IQ1_S',
  20: 'IQ4_NL',
  21: 'IQ3_S',
  22: 'IQ2_S',
  23: 'IQ4_XS',
  24: 'I8',
  25: 'I16',
  26: 'I32',
  27: 'I64',
  28: 'F64',
  29: 'IQ1_M',
  34: 'TQ1_0',
  35: 'TQ2_0',
  39: 'MXFP4',
};

export const ggmlTypeById = new Map(GGML_TYPES.map((t) => [t.id, t]));
export const ggmlTypeByName = new Map(GGML_TYPES.map((t) => [t.name, t]));

/** The table's entry for a type we support (the name is checked by the compiler, so this cannot miss). */
export function ggmlType(name: GgmlTypeName): GgmlType {
  return ggmlTypeByName.get(name)!;
}

/** Bytes of a tensor of `count` values (count must be a multiple of the block size). */
export function ggmlBytes(type: GgmlType, count: number): number {
  return (count / type.blockSize) * type.blockBytes;
}
