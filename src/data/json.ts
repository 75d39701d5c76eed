// JSON Lines and JSON task files → Table. JSONL: one object per non-blank line; a line that is not valid JSON
// or not an object is an unreadable row (reported with its line), the rest of the file is used. JSON: a list
// of objects, or an object holding one (BBH's {"canary": …, "examples": [...]}); a parse error is fatal and
// names its line. Either way, Self-Instruct/Alpaca seed tasks' nested "instances" become one row each.

import { DatasetError } from './errors';
import { jsonErrorLine, listItemLines } from './jsonItems';
import { type JsonValue, type Table, TableBuilder, isObject, kindOf } from './table';

export function readJsonl(file: string, text: string): Table {
  const rows = new TableBuilder();
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    let value: JsonValue;
    try {
      value = JSON.parse(line) as JsonValue;
    } catch (e) {
      rows.addIssue(lineNo, `not valid JSON (${(e as Error).message})`);
      continue;
    }
    if (isObject(value)) rows.addObject(lineNo, value);
    else rows.addIssue(lineNo, `expected a JSON object, got ${kindOf(value)}`);
  }
  return rows.build({ file, format: 'jsonl', header: true });
}

/** Lists often used to hold the examples, in order of preference when an object holds several lists. */
const CONTAINER_KEYS = ['examples', 'data', 'instances', 'rows', 'items', 'train', 'test', 'validation'];

/** The key of the example list inside a top-level object. */
function containerKey(file: string, obj: { [key: string]: JsonValue }): string {
  const lists = Object.keys(obj).filter((k) => Array.isArray(obj[k]));
  const ofObjects = lists.filter((k) => (obj[k] as JsonValue[]).some(isObject));
  const candidates = ofObjects.length > 0 ? ofObjects : lists;
  if (candidates.length === 1) return candidates[0];
  const preferred = CONTAINER_KEYS.find((k) => candidates.includes(k));
  if (preferred) return preferred;
  const keys = Object.keys(obj)
    .slice(0, 12)
    .map((k) => JSON.stringify(k))
    .join(', ');
  throw new DatasetError(
    candidates.length === 0
      ? `${file}: a JSON object with no list of examples (keys ${keys}); expected a list of objects, or an object holding one.`
      : `${file}: the JSON object holds several lists (${candidates.join(', ')}); keep the one with the examples.`,
    file,
  );
}

export function readJson(file: string, text: string): Table {
  let doc: JsonValue;
  try {
    doc = JSON.parse(text) as JsonValue;
  } catch (e) {
    const message = (e as Error).message;
    const line = jsonErrorLine(text, message);
    throw new DatasetError(
      `${file}${line === null ? '' : `, line ${line}`}: not valid JSON (${message}).`,
      file,
      line ?? undefined,
    );
  }
  let list: JsonValue[];
  let key: string | null = null;
  if (Array.isArray(doc)) list = doc;
  else if (isObject(doc)) {
    key = containerKey(file, doc);
    list = doc[key] as JsonValue[];
  } else {
    throw new DatasetError(
      `${file}: expected a JSON list of examples (or an object holding one), got ${kindOf(doc)}.`,
      file,
    );
  }
  const lines = listItemLines(text, key);
  const rows = new TableBuilder();
  list.forEach((value, item) => {
    const line = lines !== null && lines.length === list.length ? lines[item] : 1;
    if (isObject(value)) rows.addObject(line, value, item);
    else rows.addIssue(line, `item ${item}: expected a JSON object, got ${kindOf(value)}`, item);
  });
  return rows.build({ file, format: 'json', header: true, ...(key === null ? {} : { container: key }) });
}
