// Prompt and completion templates: plain text with `{field}` placeholders, deliberately simpler than Jinja
// (the model's own chat template goes through src/io/chatTemplate.ts instead). Syntax:
//   {field}            the row's value of `field` (any name without braces or '|'; spaces are kept)
//   {field|final}      the text after the last "####" (GSM8K's final answer), trimmed; the whole value if none
//   {field|trim}       the value without surrounding whitespace
//   {?field}…{/field}  the enclosed text only when `field` has a non-blank value (Alpaca's optional input)
//   {{ and }}          literal braces
// Parsed once per mapping in one linear pass; a syntax error names its position.

import { DatasetError } from './errors';

export type TemplateFilter = 'final' | 'trim';

export type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'field'; field: string; filter: TemplateFilter | null }
  | { kind: 'section'; field: string; body: TemplatePart[] };

export interface Template {
  source: string;
  parts: TemplatePart[];
  /** Every field the template reads, sections included, in order of first use. */
  fields: string[];
}

const FILTERS: readonly TemplateFilter[] = ['final', 'trim'];

/** GSM8K separates the worked solution from the final answer with a line "#### 42". */
export const FINAL_ANSWER_MARK = '####';

export function parseTemplate(source: string, what = 'template'): Template {
  const fail = (pos: number, why: string): never => {
    throw new DatasetError(
      `${what} ${JSON.stringify(source.length > 60 ? `${source.slice(0, 57)}...` : source)}, ` +
        `character ${pos + 1}: ${why}`,
    );
  };
  const root: TemplatePart[] = [];
  const stack: { field: string; body: TemplatePart[]; at: number }[] = [];
  const fields: string[] = [];
  const use = (f: string) => {
    if (!fields.includes(f)) fields.push(f);
  };
  let out = root;
  let text = '';
  const flush = () => {
    if (text !== '') out.push({ kind: 'text', text });
    text = '';
  };
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if ((c === '{' || c === '}') && source[i + 1] === c) {
      text += c;
      i += 2;
      continue;
    }
    if (c === '}') fail(i, 'a lone "}" (write "}}" for a literal brace)');
    if (c !== '{') {
      text += c;
      i++;
      continue;
    }
    const close = source.indexOf('}', i + 1);
    const open = source.indexOf('{', i + 1);
    if (close < 0 || (open >= 0 && open < close)) fail(i, 'a "{" without its "}" (write "{{" for a literal brace)');
    const tag = source.slice(i + 1, close).trim();
    flush();
    if (tag.startsWith('?')) {
      const field = tag.slice(1).trim();
      if (field === '') fail(i, 'a section "{?…}" needs a field name');
      use(field);
      const section = { field, body: [] as TemplatePart[], at: i };
      stack.push(section);
      out = section.body;
    } else if (tag.startsWith('/')) {
      const field = tag.slice(1).trim();
      const top = stack.pop();
      if (!top || top.field !== field) fail(i, `"{/${field}}" closes no open "{?${field}}"`);
      out = stack.length > 0 ? stack[stack.length - 1].body : root;
      out.push({ kind: 'section', field, body: top!.body });
    } else {
      const bar = tag.indexOf('|');
      const field = (bar < 0 ? tag : tag.slice(0, bar)).trim();
      const filter = bar < 0 ? null : tag.slice(bar + 1).trim();
      if (field === '') fail(i, '"{}" names no field (write "{{}}" for literal braces)');
      if (filter !== null && !(FILTERS as readonly string[]).includes(filter)) {
        fail(i, `unknown filter "${filter}" (known: ${FILTERS.join(', ')})`);
      }
      use(field);
      out.push({ kind: 'field', field, filter: filter as TemplateFilter | null });
    }
    i = close + 1;
  }
  if (stack.length > 0)
    fail(
      stack[stack.length - 1].at,
      `"{?${stack[stack.length - 1].field}}" is never closed by "{/${stack[stack.length - 1].field}}"`,
    );
  flush();
  return { source, parts: root, fields };
}

/** A row's value of a field as text, or undefined when the row has none. */
export type FieldLookup = (field: string) => string | undefined;

function applyFilter(value: string, filter: TemplateFilter | null): string {
  if (filter === 'trim') return value.trim();
  if (filter === 'final') {
    const at = value.lastIndexOf(FINAL_ANSWER_MARK);
    return (at < 0 ? value : value.slice(at + FINAL_ANSWER_MARK.length)).trim();
  }
  return value;
}

/** The rendered text, or the first field the row has no value for. */
export function renderTemplate(t: Template, lookup: FieldLookup): { text: string } | { missing: string } {
  let text = '';
  const walk = (parts: TemplatePart[]): string | null => {
    for (const p of parts) {
      if (p.kind === 'text') text += p.text;
      else if (p.kind === 'field') {
        const v = lookup(p.field);
        if (v === undefined) return p.field;
        text += applyFilter(v, p.filter);
      } else {
        const v = lookup(p.field);
        if (v !== undefined && v.trim() !== '') {
          const missing = walk(p.body);
          if (missing !== null) return missing;
        }
      }
    }
    return null;
  };
  const missing = walk(t.parts);
  return missing === null ? { text } : { missing };
}
