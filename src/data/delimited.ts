// CSV and TSV records in one linear pass: fields separated by a delimiter, records by LF, CRLF or CR, each
// record tagged with the 1-based line it starts on (so a quoted field holding newlines still reports the
// right line for the records after it). Quoting follows RFC 4180: a field that starts with " runs to a " that
// is followed by the delimiter, a line end or the end of the file, and "" inside it is one quote.
//
// Real files bend that rule: GLUE's MRPC TSV has fields such as `"I'm delighted," he said.` whose quotes are
// text. A field whose quote closes before other text (or never closes) is therefore read literally, up to the
// next delimiter or line end. The quoted attempts that fail have a work budget of twice the text's length, so
// no input can make parsing quadratic; once it is spent, quotes are read as ordinary characters.

export interface DelimitedRecord {
  line: number;
  fields: string[];
}

export interface DelimitedParse {
  records: DelimitedRecord[];
  /** Fields read as quoted; of those, how many needed it (held a delimiter, a newline or a doubled quote). */
  quoted: number;
  neededQuotes: number;
  /** Fields that opened a quote but turned out to be literal text. */
  strayQuotes: number;
}

const QUOTE = 0x22;
const LF = 0x0a;
const CR = 0x0d;

/** Parses `text` (BOM already removed). Blank lines are not records. */
export function parseDelimited(text: string, delimiter: string, quotes = true): DelimitedParse {
  const delim = delimiter.charCodeAt(0);
  const n = text.length;
  const records: DelimitedRecord[] = [];
  let quoted = 0;
  let neededQuotes = 0;
  let strayQuotes = 0;
  let budget = 2 * n;
  let line = 1;
  let recordLine = 1;
  let fields: string[] = [];
  let i = 0;

  const endRecord = () => {
    if (!(fields.length === 1 && fields[0] === '')) records.push({ line: recordLine, fields });
    fields = [];
  };

  for (;;) {
    let value: string | undefined;
    if (quotes && budget > 0 && i < n && text.charCodeAt(i) === QUOTE) {
      // Quoted attempt: collect the text between the quotes, "" → ", counting the newlines it spans.
      let j = i + 1;
      let from = j;
      let parts = '';
      let newlines = 0;
      let needed = false;
      let closed = false;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === QUOTE) {
          if (j + 1 < n && text.charCodeAt(j + 1) === QUOTE) {
            parts += text.slice(from, j + 1);
            j += 2;
            from = j;
            needed = true;
            continue;
          }
          const next = j + 1 < n ? text.charCodeAt(j + 1) : -1;
          closed = next === -1 || next === delim || next === LF || next === CR;
          break;
        }
        if (c === LF || (c === CR && (j + 1 >= n || text.charCodeAt(j + 1) !== LF))) newlines++;
        if (c === delim || c === LF || c === CR) needed = true;
        j++;
      }
      if (closed) {
        value = parts + text.slice(from, j);
        line += newlines;
        i = j + 1;
        quoted++;
        if (needed) neededQuotes++;
      } else {
        budget -= j - i;
        strayQuotes++;
      }
    }
    if (value === undefined) {
      let j = i;
      while (j < n) {
        const c = text.charCodeAt(j);
        if (c === delim || c === LF || c === CR) break;
        j++;
      }
      value = text.slice(i, j);
      i = j;
    }
    fields.push(value);
    if (i >= n) {
      endRecord();
      break;
    }
    const c = text.charCodeAt(i);
    if (c === delim) {
      i++;
      continue;
    }
    i += c === CR && i + 1 < n && text.charCodeAt(i + 1) === LF ? 2 : 1;
    line++;
    endRecord();
    recordLine = line;
  }
  return { records, quoted, neededQuotes, strayQuotes };
}

/**
 * Reads a TSV: quotes are honoured only when the file evidently uses them (some quoted field needed quoting
 * and none was stray), since most TSV writers (GLUE's among them) never quote and a leading " is text.
 */
export function parseTsv(text: string): DelimitedParse {
  const quotedParse = parseDelimited(text, '\t', true);
  if (quotedParse.neededQuotes > 0 && quotedParse.strayQuotes === 0) return quotedParse;
  return quotedParse.quoted === 0 && quotedParse.strayQuotes === 0 ? quotedParse : parseDelimited(text, '\t', false);
}

/**
 * The delimiter of a CSV-like file from its first line(s): tab, comma or semicolon (European spreadsheets),
 * whichever splits the first non-blank line the most; ties go to the comma.
 */
export function sniffDelimiter(text: string): ',' | '\t' | ';' {
  const start = text.search(/\S/);
  const end = text.indexOf('\n', start);
  const first = text.slice(Math.max(0, start), end < 0 ? Math.min(text.length, start + 65536) : end);
  const count = (ch: string) => first.split(ch).length - 1;
  const [tabs, commas, semis] = [count('\t'), count(','), count(';')];
  if (tabs > commas && tabs >= semis) return '\t';
  if (semis > commas && semis > tabs) return ';';
  return ',';
}
