// The common shape every reader produces: a Table of rows with named columns, each row knowing the real
// 1-based line it starts on in the file, plus the rows that could not be read (with their line and why).
// Plain JSON throughout, so a Web Worker can post it and IndexedDB can keep it. TableBuilder collects rows
// for the readers: it keeps the union of column names in first-seen order and caps the stored list of
// unreadable rows (their count stays exact) so a hopeless file cannot exhaust memory.

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export type TableFormat = 'jsonl' | 'json' | 'csv' | 'tsv';

export interface TableRow {
  /** 1-based line of the file where the row starts (for a quoted CSV field with newlines, its first line). */
  line: number;
  /** 0-based position in a JSON list (a one-line JSON file puts every row on line 1). */
  item?: number;
  values: Record<string, JsonValue>;
}

export interface TableIssue {
  line: number;
  item?: number;
  message: string;
}

export interface Table {
  file: string;
  format: TableFormat;
  /** CSV/TSV: whether the first record named the columns (false: columns are col1, col2, …). */
  header: boolean;
  columns: string[];
  rows: TableRow[];
  /** The first MAX_TABLE_ISSUES unreadable rows (bad JSON line, wrong number of fields, …), in file order. */
  issues: TableIssue[];
  /** How many rows could not be read (may exceed issues.length). */
  unreadable: number;
  /** JSON: the key of the list inside the top-level object (BBH's "examples"). */
  container?: string;
  /** Nested lists expanded into one row per element (Self-Instruct/Alpaca seed tasks' "instances"). */
  flattened?: string;
}

export const MAX_TABLE_ISSUES = 1000;

/** Nested example lists that are expanded into rows, parent fields copied into each. */
export const NESTED_INSTANCES = 'instances';

/** Name of the n-th (0-based) column of a file without a header. */
export const headerlessColumn = (n: number) => `col${n + 1}`;

export class TableBuilder {
  readonly rows: TableRow[] = [];
  readonly issues: TableIssue[] = [];
  unreadable = 0;
  flattened = false;
  private readonly seen = new Set<string>();
  private readonly columns: string[] = [];

  constructor(initialColumns: string[] = []) {
    initialColumns.forEach((c) => this.addColumn(c));
  }

  private addColumn(name: string): void {
    if (this.seen.has(name)) return;
    this.seen.add(name);
    this.columns.push(name);
  }

  addRow(line: number, values: Record<string, JsonValue>, item?: number): void {
    for (const k in values) this.addColumn(k);
    this.rows.push(item === undefined ? { line, values } : { line, item, values });
  }

  /** A JSON object row; a non-empty list of objects under "instances" becomes one row per instance. */
  addObject(line: number, obj: { [key: string]: JsonValue }, item?: number): void {
    const nested = obj[NESTED_INSTANCES];
    if (Array.isArray(nested) && nested.length > 0 && nested.every(isObject)) {
      const { [NESTED_INSTANCES]: _, ...parent } = obj;
      this.flattened = true;
      for (const inst of nested as { [key: string]: JsonValue }[]) this.addRow(line, { ...parent, ...inst }, item);
      return;
    }
    this.addRow(line, obj, item);
  }

  addIssue(line: number, message: string, item?: number): void {
    this.unreadable++;
    if (this.issues.length < MAX_TABLE_ISSUES)
      this.issues.push(item === undefined ? { line, message } : { line, item, message });
  }

  build(base: Pick<Table, 'file' | 'format' | 'header'> & Partial<Pick<Table, 'container'>>): Table {
    return {
      ...base,
      columns: this.columns,
      rows: this.rows,
      issues: this.issues,
      unreadable: this.unreadable,
      ...(this.flattened ? { flattened: NESTED_INSTANCES } : {}),
    };
  }
}

export function isObject(v: unknown): v is { [key: string]: JsonValue } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a JSON value is, for messages ("got a list"). */
export function kindOf(v: JsonValue): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/** A value as template text: strings as they are, numbers and booleans printed, lists and objects as JSON. */
export function textOf(v: JsonValue): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}
