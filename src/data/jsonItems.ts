// Where things are in a JSON text that JSON.parse will not say: the 1-based line each element of the
// example list starts on (so a pretty-printed file such as LLM-Adapters' reports real lines), and the line of
// a parse error from the engine's message. One linear scan that only tracks strings, nesting and newlines.

/**
 * Lines of the elements of the list at the top level (`key` null) or under the top-level object's `key`,
 * in order; null when the scan cannot find that list. `text` must be valid JSON (it was parsed already).
 */
export function listItemLines(text: string, key: string | null): number[] | null {
  const lines: number[] = [];
  let line = 1;
  let depth = 0;
  let target = -1; // depth of the list's elements once its '[' is seen
  let expectItem = false;
  let lastString: string | null = null; // the last string at depth 1 (a candidate key)
  let currentKey: string | null = null;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) {
      line++;
      continue;
    }
    if (c === 0x20 || c === 0x09 || c === 0x0d) continue;
    if (depth === target && expectItem && c !== 0x5d /* ] */) {
      lines.push(line);
      expectItem = false;
    }
    if (c === 0x22 /* " */) {
      let j = i + 1;
      while (j < n && text.charCodeAt(j) !== 0x22) j += text.charCodeAt(j) === 0x5c /* \ */ ? 2 : 1;
      if (depth === 1 && target < 0) lastString = text.slice(i, j + 1);
      i = j;
      continue;
    }
    if (c === 0x3a /* : */ && depth === 1 && lastString !== null) {
      currentKey = JSON.parse(lastString) as string;
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (c === 0x5b && target < 0 && (key === null ? depth === 1 : depth === 2 && currentKey === key)) {
        target = depth;
        expectItem = true;
      }
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      if (depth === target && c === 0x5d) return lines;
      depth--;
    } else if (c === 0x2c /* , */ && depth === target) {
      expectItem = true;
    }
  }
  return null;
}

/** The 1-based line of a JSON.parse error, from V8's "position N" / "(line L column C)" or Firefox's "line L". */
export function jsonErrorLine(text: string, message: string): number | null {
  const byLine = /line (\d+)/.exec(message);
  if (byLine) return Number(byLine[1]);
  const byPosition = /position (\d+)/.exec(message);
  if (!byPosition) return null;
  const pos = Math.min(Number(byPosition[1]), text.length);
  let line = 1;
  for (let i = 0; i < pos; i++) if (text.charCodeAt(i) === 0x0a) line++;
  return line;
}
