// Uniforms packed by field name from the kernel's own WGSL struct: `uniformStruct(src, 'Params')` reads the
// struct's declaration once (field names, types, WGSL's alignment and size rules) and returns a packer that
// takes an object with every field by name. The struct is the one place a layout is written: reordering or
// adding a field there cannot silently shift what the host writes, and a missing or unknown field is an
// error at the call, not a wrong number on the GPU. Fields whose names start with `_` are padding (zero).

type Scalar = 'u32' | 'i32' | 'f32';

interface Field {
  name: string;
  scalar: Scalar;
  /** Scalars in the field: 1, 2, 3, 4, or 4·n for array<vec4<T>, n>. */
  count: number;
  offset: number;
}

export type UniformValues = Record<string, number | readonly number[]>;

export interface UniformStruct {
  readonly name: string;
  /** Bytes, rounded up to 16 (a uniform binding's size must be). */
  readonly size: number;
  readonly fields: readonly Field[];
  pack(values: UniformValues): Uint8Array;
}

const TYPE = /^(?:(u32|i32|f32)|vec([234])<(u32|i32|f32)>|array<vec4<(u32|i32|f32)>,\s*(\d+)u?>)$/;

/** The packer for `struct name { … }` declared in `wgsl` (scalars, vec2/3/4, arrays of vec4). */
export function uniformStruct(wgsl: string, name: string): UniformStruct {
  const body = new RegExp(`struct\\s+${name}\\s*\\{([^}]*)\\}`).exec(stripComments(wgsl))?.[1];
  if (body === undefined) throw new Error(`uniformStruct: no struct ${name} in the shader`);
  const fields: Field[] = [];
  let offset = 0;
  for (const decl of topLevelParts(body)) {
    const [fieldName, type] = decl.split(':').map((s) => s.trim());
    const m = TYPE.exec(type ?? '');
    if (!m) throw new Error(`uniformStruct: ${name}.${fieldName} has type ${type}, which the packer cannot write`);
    const scalar = (m[1] ?? m[3] ?? m[4]) as Scalar;
    const count = m[1] ? 1 : m[2] ? Number(m[2]) : 4 * Number(m[5]);
    const align = count === 1 ? 4 : count === 2 ? 8 : 16;
    offset = Math.ceil(offset / align) * align;
    fields.push({ name: fieldName, scalar, count, offset });
    offset += 4 * count;
  }
  const size = Math.ceil(offset / 16) * 16;
  return { name, size, fields, pack: (values) => pack(name, fields, size, values) };
}

/** Parsed structs per shader source, then per struct name: the source string is a module constant, so looking
 * it up costs no rehash per dispatch (a combined key would be a new multi-KB string each call). */
const parsed = new Map<string, Map<string, UniformStruct>>();

/** `uniformStruct`, parsed once per (shader, struct): for ops that pick among kernels at each call. */
export function uniformStructOf(wgsl: string, name: string): UniformStruct {
  let byName = parsed.get(wgsl);
  if (!byName) parsed.set(wgsl, (byName = new Map()));
  let s = byName.get(name);
  if (!s) byName.set(name, (s = uniformStruct(wgsl, name)));
  return s;
}

function pack(name: string, fields: readonly Field[], size: number, values: UniformValues): Uint8Array {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  const known = new Set(fields.map((f) => f.name));
  for (const key of Object.keys(values)) {
    if (!known.has(key)) throw new Error(`uniform ${name}: no field ${key} (fields: ${[...known].join(', ')})`);
  }
  for (const f of fields) {
    const v = values[f.name];
    if (v === undefined) {
      if (f.name.startsWith('_')) continue;
      throw new Error(`uniform ${name}: field ${f.name} is missing`);
    }
    const list = typeof v === 'number' ? [v] : v;
    if (list.length > f.count || (f.count <= 4 && list.length !== f.count))
      throw new Error(`uniform ${name}: field ${f.name} takes ${f.count} values, got ${list.length}`);
    list.forEach((x, i) => write(view, f.offset + 4 * i, f.scalar, x, `${name}.${f.name}`));
  }
  return bytes;
}

function write(view: DataView, at: number, scalar: Scalar, x: number, what: string): void {
  if (scalar === 'f32') return view.setFloat32(at, x, true);
  const [lo, hi] = scalar === 'u32' ? [0, 2 ** 32 - 1] : [-(2 ** 31), 2 ** 31 - 1];
  if (!Number.isInteger(x) || x < lo || x > hi) throw new Error(`uniform ${what}: ${x} is not a ${scalar}`);
  if (scalar === 'u32') view.setUint32(at, x, true);
  else view.setInt32(at, x, true);
}

/** The comma-separated declarations of a struct body (commas inside <…> belong to a type). */
function topLevelParts(body: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    const c = body[i];
    if (c === '<') depth++;
    else if (c === '>') depth--;
    else if ((c === ',' && depth === 0) || i === body.length) {
      parts.push(body.slice(start, i).trim());
      start = i + 1;
    }
  }
  return parts.filter(Boolean);
}

function stripComments(wgsl: string): string {
  return wgsl.replace(/\/\/[^\n]*/g, '').replace(/\/\*[\s\S]*?\*\//g, '');
}
