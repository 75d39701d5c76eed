// safetensors: round trip, the header padding rule, and strict rejection of malformed files.

import { describe, expect, it } from 'vitest';
import { memorySource } from '../../src/io/byteSource';
import { concatParts } from '../../src/io/ggufWriter';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors';

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);

function sample(): Uint8Array {
  return concatParts(
    writeSafetensors(
      [
        {
          name: 'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
          dtype: 'F32',
          shape: [2, 3],
          data: f32([1, 2, 3, 4, 5, 6]),
        },
        { name: 'b', dtype: 'F16', shape: [3], data: new Uint8Array([0, 60, 0, 64, 0, 0]) },
      ],
      { format: 'pt' },
    ),
  );
}

function withHeader(json: string, data = new Uint8Array(0)): Uint8Array {
  const j = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + j.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(j.length), true);
  out.set(j, 8);
  out.set(data, 8 + j.length);
  return out;
}

describe('safetensors', () => {
  it('round-trips tensors and metadata with an 8-byte aligned header', async () => {
    const bytes = sample();
    const f = await readSafetensors(memorySource(bytes));
    expect(f.dataOffset % 8).toBe(0);
    expect(f.metadata).toEqual({ format: 'pt' });
    const [a, b] = f.tensors;
    expect(a).toMatchObject({ dtype: 'F32', shape: [2, 3], byteLength: 24 });
    expect(Array.from(new Float32Array(bytes.slice(a.offset, a.offset + 24).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(b).toMatchObject({ dtype: 'F16', shape: [3], offset: a.offset + 24 });
  });

  const cases: [string, Uint8Array, RegExp][] = [
    ['too short', new Uint8Array(3), /too short/],
    ['a header longer than the file', withHeader('{}').map((v, i) => (i === 0 ? 200 : v)), /impossible/],
    ['invalid JSON', withHeader('{"a": '), /not valid JSON/],
    [
      'an unknown dtype',
      withHeader('{"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(1)),
      /unsupported dtype F8/,
    ],
    [
      'a size that disagrees with the shape',
      withHeader('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)),
      /should take 8 bytes/,
    ],
    [
      'a gap between tensors',
      withHeader('{"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}', new Uint8Array(2)),
      /contiguous/,
    ],
    [
      'data past the end',
      withHeader('{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}', new Uint8Array(2)),
      /truncated/,
    ],
    [
      'trailing bytes',
      withHeader('{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', new Uint8Array(3)),
      /trailing bytes/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    it(`rejects ${what}`, async () => {
      await expect(readSafetensors(memorySource(bytes))).rejects.toThrow(message);
    });
  }
});
