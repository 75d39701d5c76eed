// preview: the first rows of a table as they would train under a mapping (or why each cannot), for the UI's
// mapping editor to show while the user edits templates and labels. Renders exactly as applyMapping does.

import type { ChatTemplate } from '../io/chatTemplate';
import { type FieldMapping, compileMapping } from './mapping';
import { RowRenderer, type RowIssueKind } from './render';
import type { Table } from './table';

export interface PreviewRow {
  line: number;
  item?: number;
  task?: string;
  prompt?: string;
  completion?: string;
  choices?: string[];
  issue?: { kind: RowIssueKind; message: string };
}

export function preview(table: Table, mapping: FieldMapping, n = 5, chatTemplate?: ChatTemplate): PreviewRow[] {
  const renderer = new RowRenderer(compileMapping(table, mapping), chatTemplate);
  return table.rows.slice(0, n).map((row): PreviewRow => {
    const where = { line: row.line, ...(row.item === undefined ? {} : { item: row.item }) };
    const r = renderer.render(row);
    if (!r.ok) return { ...where, issue: { kind: r.kind, message: r.message } };
    const { prompt, completion, choices } = r.example;
    return { ...where, task: r.task, prompt, completion, ...(choices ? { choices } : {}) };
  });
}
