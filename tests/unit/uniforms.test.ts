// Uniforms packed by field name from the WGSL struct (src/gpu/uniforms.ts): WGSL's offsets and alignment,
// and a clear error for a missing, unknown, out-of-range or wrongly sized field.

import { describe, expect, it } from 'vitest';
import { uniformStruct } from '../../src/gpu/uniforms';
import adamwSrc from '../../shaders/adamw.wgsl?raw';
import dropoutSrc from '../../shaders/lora_dropout.wgsl?raw';

const SHADER = `
// struct Params { commented: u32 }
struct Params {
  n: u32, // a count
  offset: vec2<i32>, /* vec2 aligns to 8 */
  scale: f32,
  table: array<vec4<u32>, 2>,
  _pad: u32,
}
struct Other { x: f32 }`;

describe('uniformStruct', () => {
  it("places every field at WGSL's offset, by name, padding zero", () => {
    const s = uniformStruct(SHADER, 'Params');
    expect(s.fields.map((f) => [f.name, f.offset])).toEqual([
      ['n', 0],
      ['offset', 8],
      ['scale', 16],
      ['table', 32],
      ['_pad', 64],
    ]);
    expect(s.size).toBe(80);
    const bytes = s.pack({ table: [1, 2, 3], offset: [-1, 7], scale: 0.5, n: 9 });
    const view = new DataView(bytes.buffer);
    expect(view.getUint32(0, true)).toBe(9);
    expect([view.getInt32(8, true), view.getInt32(12, true)]).toEqual([-1, 7]);
    expect(view.getFloat32(16, true)).toBe(0.5);
    expect([32, 36, 40, 44].map((o) => view.getUint32(o, true))).toEqual([1, 2, 3, 0]);
    expect(view.getUint32(64, true)).toBe(0);
    expect(uniformStruct(SHADER, 'Other').size).toBe(16);
  });

  it('refuses a missing, unknown, out-of-range or wrongly sized field, naming it', () => {
    const s = uniformStruct(SHADER, 'Params');
    const ok = { n: 1, scale: 1, offset: [0, 0], table: [] };
    expect(() => s.pack({ ...ok, n: undefined as unknown as number })).toThrow(/field n is missing/);
    expect(() => s.pack({ ...ok, scal: 2 })).toThrow(/no field scal \(fields: n, offset, scale, table, _pad\)/);
    expect(() => s.pack({ ...ok, n: -1 })).toThrow(/Params.n: -1 is not a u32/);
    expect(() => s.pack({ ...ok, n: 1.5 })).toThrow(/Params.n: 1.5 is not a u32/);
    expect(() => s.pack({ ...ok, offset: [1] })).toThrow(/field offset takes 2 values, got 1/);
    expect(() => s.pack({ ...ok, table: Array(9).fill(0) })).toThrow(/field table takes 8 values, got 9/);
    expect(() => uniformStruct(SHADER, 'Missing')).toThrow(/no struct Missing/);
    expect(() => uniformStruct('struct P { m: mat2x2<f32> }', 'P')).toThrow(/P.m has type mat2x2<f32>/);
  });

  it("reads the real kernels' structs: AdamW's nine scalars, dropout's 256-byte group table", () => {
    expect(uniformStruct(adamwSrc, 'Params').fields.map((f) => f.name)).toEqual([
      'n',
      'beta1',
      'beta2',
      'one_minus_beta1',
      'one_minus_beta2',
      'decay',
      'step_size',
      'bc2_sqrt',
      'eps',
    ]);
    const dropout = uniformStruct(dropoutSrc, 'Params');
    expect(dropout.size).toBe(256);
    expect(dropout.fields.find((f) => f.name === 'seeds')).toMatchObject({ offset: 32, count: 56 });
  });
});
