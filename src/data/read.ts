// readTable: the entry point from an uploaded file's bytes to a Table. The format comes from the name and
// the content (a .json file holding JSON Lines is read as JSONL; a .csv file separated by tabs as TSV); the
// header of a CSV/TSV file is guessed unless given. Checks size and binary content before decoding.

import { decodeText } from './text';
import { parseDelimited, parseTsv, sniffDelimiter } from './delimited';
import { DatasetError } from './errors';
import { looksLikeHeader } from './header';
import { readJson, readJsonl } from './json';
import { type Table, type TableFormat, TableBuilder, headerlessColumn } from './table';

export interface ReadOptions {
  /** Overrides the format sniffed from the name and content. */
  format?: TableFormat;
  /** CSV/TSV: whether the first record is a header (default: guessed). */
  header?: boolean;
}

const extension = (file: string) => /\.([a-z0-9]+)$/i.exec(file)?.[1]?.toLowerCase() ?? '';

/** JSON Lines when the first non-blank line is a whole JSON object and another non-blank line follows. */
function isJsonLines(text: string): boolean {
  const start = text.search(/\S/);
  const end = text.indexOf('\n', start);
  if (end < 0 || text.slice(end).trim() === '') return false;
  try {
    const first = JSON.parse(text.slice(start, end)) as unknown;
    return typeof first === 'object' && first !== null && !Array.isArray(first);
  } catch {
    return false;
  }
}

export function sniffFormat(file: string, text: string): TableFormat {
  const ext = extension(file);
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  const start = text.search(/\S/);
  const tsvName = ext === 'tsv' || ext === 'tab';
  if (ext === 'json' || (!tsvName && ext !== 'csv' && (text[start] === '{' || text[start] === '['))) {
    return isJsonLines(text) ? 'jsonl' : 'json';
  }
  // A .tsv file is tab-separated whenever its first line has a tab, even if commas outnumber them (XWinograd
  // keeps JSON lists in its cells); otherwise the delimiter is counted.
  const eol = text.indexOf('\n', start);
  const firstLine = text.slice(start, eol < 0 ? text.length : eol);
  if (tsvName && firstLine.includes('\t')) return 'tsv';
  return sniffDelimiter(text) === '\t' ? 'tsv' : 'csv';
}

/** Header names made usable: empty ones become colN, repeats get a _2, _3 suffix. */
function headerNames(fields: string[]): string[] {
  const seen = new Map<string, number>();
  return fields.map((f, i) => {
    const name = f.trim() === '' ? headerlessColumn(i) : f.trim();
    const k = (seen.get(name) ?? 0) + 1;
    seen.set(name, k);
    return k === 1 ? name : `${name}_${k}`;
  });
}

/** The most common field count among the first records: a header-less file's width. */
function usualWidth(records: { fields: string[] }[]): number {
  const counts = new Map<number, number>();
  for (const r of records.slice(0, 1000)) counts.set(r.fields.length, (counts.get(r.fields.length) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0][0];
}

function readDelimited(file: string, text: string, format: 'csv' | 'tsv', header: boolean | undefined): Table {
  const delimiter = format === 'tsv' ? '\t' : sniffDelimiter(text) === ';' ? ';' : ',';
  const { records } = format === 'tsv' ? parseTsv(text) : parseDelimited(text, delimiter);
  if (records.length === 0) throw new DatasetError(`${file} has no rows.`, file);
  const hasHeader = header ?? looksLikeHeader(records.map((r) => r.fields));
  const columns = hasHeader
    ? headerNames(records[0].fields)
    : Array.from({ length: usualWidth(records) }, (_, i) => headerlessColumn(i));
  const rows = new TableBuilder(columns);
  for (const { line, fields } of records.slice(hasHeader ? 1 : 0)) {
    // Extra fields that are all empty come from a trailing delimiter; anything else is a ragged row.
    const extraEmpty = fields.length > columns.length && fields.slice(columns.length).every((f) => f === '');
    if (fields.length !== columns.length && !extraEmpty) {
      rows.addIssue(
        line,
        `${fields.length} field${fields.length === 1 ? '' : 's'}, expected ${columns.length}` +
          `${hasHeader ? ` (the header's ${columns.length} columns)` : ''}`,
      );
      continue;
    }
    // fromEntries defines own properties, so even a column named "__proto__" is just a column.
    rows.addRow(line, Object.fromEntries(columns.map((c, i) => [c, fields[i]])));
  }
  return rows.build({ file, format, header: hasHeader });
}

/**
 * Reads a task file. Throws DatasetError when the file as a whole is unusable (too big, binary, not UTF-8,
 * empty, invalid JSON, no readable row); rows that cannot be read are listed in `issues` with their line.
 */
export function readTable(file: string, bytes: Uint8Array, opts: ReadOptions = {}): Table {
  const text = decodeText(file, bytes);
  const format = opts.format ?? sniffFormat(file, text);
  const table =
    format === 'jsonl'
      ? readJsonl(file, text)
      : format === 'json'
        ? readJson(file, text)
        : readDelimited(file, text, format, opts.header);
  if (table.rows.length === 0) {
    const first = table.issues[0];
    throw new DatasetError(
      `${file}: no readable rows as ${format.toUpperCase()}` +
        (first
          ? ` (line ${first.line}: ${first.message}${table.unreadable > 1 ? `; ${table.unreadable - 1} more like it` : ''}).`
          : '.'),
      file,
      first?.line,
    );
  }
  return table;
}
