// detectMapping: the FieldMapping a table most likely wants, from its column names (case-insensitive, with
// the aliases real files use), its values where names are ambiguous (GSM8K's "####", chat message lists),
// and the layout of header-less files (MMLU's six columns ending in A–D, CoLA's four). mappingForSchema gives
// a chosen schema's mapping instead (the UI's schema menu, the CLI's --schema), failing clearly when the
// file lacks its columns. Anything unrecognised becomes 'custom': first column → prompt, last → completion.

import { DatasetError } from './errors';
import type { FieldMapping, SchemaId } from './mapping';
import { type Roles, SCHEMAS, type SchemaDef, type ValueProbe } from './schemas';
import { type JsonValue, type Table, textOf } from './table';

/** The task name a file suggests: its name without folders and extension ("train.jsonl" → "train"). */
export function defaultTaskName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  return base.replace(/\.(jsonl|ndjson|json|csv|tsv|tab|txt)$/i, '') || base || 'task';
}

/** Column names that hold a task name, turning one file into several tasks. */
const TASK_COLUMNS = ['task', 'task_name', 'subtask'];

function probeOf(table: Table, names: readonly string[]): ValueProbe {
  const source = new Map(names.map((n, i) => [n, table.columns[i]]));
  const values = function* (field: string): Generator<JsonValue> {
    const col = source.get(field) ?? field;
    for (const r of table.rows) {
      const v = Object.hasOwn(r.values, col) ? r.values[col] : null;
      if (v !== null) yield v;
    }
  };
  return {
    file: table.file,
    rows: table.rows.length,
    sample(field, n) {
      const out: JsonValue[] = [];
      for (const v of values(field)) {
        if (out.length >= n) break;
        out.push(v);
      }
      return out;
    },
    distinct(field, limit) {
      const seen = new Set<string>();
      for (const v of values(field)) {
        seen.add(textOf(v).trim());
        if (seen.size > limit) return null;
      }
      return [...seen];
    },
  };
}

/** Role → column for a schema over these column names, or null when a needed role has no column. */
function resolveRoles(def: SchemaDef, names: readonly string[]): Roles | null {
  const byLower = new Map<string, string>();
  for (const n of names) if (!byLower.has(n.toLowerCase())) byLower.set(n.toLowerCase(), n);
  const find = (aliases: string[]) => aliases.map((a) => byLower.get(a)).find((n) => n !== undefined);
  const roles: Roles = {};
  for (const [role, aliases] of Object.entries(def.needs)) {
    const col = find(aliases);
    if (col === undefined) return null;
    roles[role] = col;
  }
  for (const [role, aliases] of Object.entries(def.optional ?? {})) {
    const col = find(aliases);
    if (col !== undefined) roles[role] = col;
  }
  return roles;
}

function assemble(
  table: Table,
  schema: SchemaId,
  renamed: string[] | null,
  parts: Omit<FieldMapping, 'schema' | 'columns' | 'format' | 'system' | 'taskColumn' | 'taskName' | 'taskNames'>,
  used: string[],
): FieldMapping {
  const names = renamed ?? table.columns;
  const taskColumn = names.find((n) => TASK_COLUMNS.includes(n.toLowerCase()) && !used.includes(n)) ?? null;
  return {
    schema,
    columns: renamed,
    ...parts,
    format: 'template',
    system: '',
    taskColumn,
    taskName: defaultTaskName(table.file),
    taskNames: {},
  };
}

function customMapping(table: Table): FieldMapping {
  const cols = table.columns;
  if (cols.length < 2) {
    throw new DatasetError(
      `${table.file}: only one column (${JSON.stringify(cols[0])}); a task needs a prompt field and a ` +
        'completion field (for a CSV, check the delimiter).',
      table.file,
    );
  }
  const [first, last] = [cols[0], cols[cols.length - 1]];
  return assemble(
    table,
    'custom',
    null,
    { prompt: `{${first}}`, completion: ` {${last}}`, answer: null, messages: null },
    [first, last],
  );
}

function fromSchema(
  table: Table,
  def: SchemaDef,
  renamed: string[] | null,
  roles: Roles,
  probe: ValueProbe,
): FieldMapping {
  return assemble(table, def.id, renamed, def.build(roles, probe), Object.values(roles));
}

/** Names a header-less table's columns take in a schema's layout, when its rows fit it. */
function headerlessNames(table: Table, def: SchemaDef, check: boolean): string[] | null {
  if (table.header || !def.headerless || def.headerless.names.length !== table.columns.length) return null;
  if (check) {
    const sample = table.rows.slice(0, 200).map((r) => table.columns.map((c) => r.values[c]));
    if (!def.headerless.fits(sample)) return null;
  }
  return def.headerless.names;
}

export function detectMapping(table: Table): FieldMapping {
  for (const def of SCHEMAS) {
    if (def.variant) continue;
    const renamed = headerlessNames(table, def, true);
    if (!table.header && renamed === null) continue;
    const names = renamed ?? table.columns;
    const roles = resolveRoles(def, names);
    if (roles === null) continue;
    const probe = probeOf(table, names);
    if (renamed === null && def.fits && !def.fits(probe, roles)) continue;
    return fromSchema(table, def, renamed, roles, probe);
  }
  return customMapping(table);
}

export function mappingForSchema(table: Table, schema: SchemaId): FieldMapping {
  if (schema === 'custom') return customMapping(table);
  const def = SCHEMAS.find((d) => d.id === schema);
  if (!def)
    throw new DatasetError(
      `unknown schema "${schema}" (known: ${[...SCHEMAS.map((d) => d.id), 'custom'].join(', ')}).`,
    );
  const renamed = headerlessNames(table, def, false);
  const names = renamed ?? table.columns;
  const roles = resolveRoles(def, names);
  if (roles === null) {
    const wanted = Object.values(def.needs)
      .map((aliases) => aliases[0])
      .join(', ');
    throw new DatasetError(
      `${table.file}: schema "${schema}" needs the columns ${wanted}; the file has ` +
        `${table.columns.join(', ')}${table.header ? '' : ' (no header)'}.`,
      table.file,
    );
  }
  return fromSchema(table, def, renamed, roles, probeOf(table, names));
}

/** The schemas a user can pick from, with a one-line description each. */
export const SCHEMA_CHOICES: readonly { id: SchemaId; title: string }[] = [
  ...SCHEMAS.map(({ id, title }) => ({ id, title })),
  { id: 'custom', title: 'Custom: choose the fields yourself' },
];
