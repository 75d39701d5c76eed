// The dataset readers on small hand-made files: CSV/TSV quoting (doubled quotes, delimiters and newlines in
// quotes, GLUE-style stray quotes read literally), CRLF and lone CR, BOM, blank lines, ragged rows with their
// lines, header detection, JSONL/JSON (containers, nested instances, element lines) and format sniffing.

import { describe, expect, it } from 'vitest';
import { parseDelimited, parseTsv, sniffDelimiter } from '../../src/data/delimited';
import { looksLikeHeader } from '../../src/data/header';
import { DatasetError, readTable, sniffFormat } from '../../src/data';

const bytes = (s: string) => new TextEncoder().encode(s);
const read = (name: string, s: string, header?: boolean) =>
  readTable(name, bytes(s), header === undefined ? {} : { header });
const lines = (name: string, s: string) => read(name, s).rows.map((r) => r.line);

describe('CSV/TSV records', () => {
  it("reads quoted fields with delimiters, doubled quotes and newlines, keeping each record's first line", () => {
    const text = 'a,b\r\n"x, y","say ""hi"""\r\n"two\r\nlines\nhere",z\r\nlast,"q"\r\n';
    const { records } = parseDelimited(text, ',');
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x, y', 'say "hi"'] },
      { line: 3, fields: ['two\r\nlines\nhere', 'z'] },
      { line: 6, fields: ['last', 'q'] },
    ]);
  });

  it('counts lone CR and CRLF as one line end each, and skips blank lines without losing count', () => {
    expect(parseDelimited('a,b\rc,d\r\n\r\n\ne,f', ',').records.map((r) => [r.line, r.fields.join('|')])).toEqual([
      [1, 'a|b'],
      [2, 'c|d'],
      [5, 'e|f'],
    ]);
  });

  it('reads a quote that closes before more text (MRPC) or never closes as literal text', () => {
    const mrpc = '1\t"I\'m delighted," he said.\t"Quite," she said.\n0\tplain\ttext\n';
    expect(parseTsv(mrpc).records.map((r) => r.fields)).toEqual([
      ['1', '"I\'m delighted," he said.', '"Quite," she said.'],
      ['0', 'plain', 'text'],
    ]);
    expect(parseDelimited('a,"b\nc,d\n', ',').records.map((r) => r.fields)).toEqual([
      ['a', '"b'],
      ['c', 'd'],
    ]);
    expect(parseDelimited('a,x"y"\n', ',').records[0].fields).toEqual(['a', 'x"y"']);
  });

  it('honours TSV quotes only when the file needs them', () => {
    // An Excel-style TSV: a quoted field holding a tab and a newline.
    expect(parseTsv('q\ta\n"one\ttwo\nthree"\tx\n').records.map((r) => [r.line, ...r.fields])).toEqual([
      [1, 'q', 'a'],
      [2, 'one\ttwo\nthree', 'x'],
    ]);
    // Quotes that need nothing are text (GLUE never quotes).
    expect(parseTsv('"hello"\tx\n').records[0].fields).toEqual(['"hello"', 'x']);
  });

  it('sniffs the delimiter from the first line', () => {
    expect(sniffDelimiter('a\tb\tc\n1,2\t3')).toBe('\t');
    expect(sniffDelimiter('\n\na;b;c\n')).toBe(';');
    expect(sniffDelimiter('a,b\n')).toBe(',');
  });
});

describe('header detection', () => {
  it('knows common column names, refuses empty or repeated cells, and votes on column patterns', () => {
    expect(
      looksLikeHeader([
        ['sentence', 'label'],
        ['it is good .', '1'],
      ]),
    ).toBe(true);
    expect(
      looksLikeHeader([
        ['gj04', '1', '', 'The sailors rode.'],
        ['gj04', '0', '*', 'Rode.'],
      ]),
    ).toBe(false);
    expect(
      looksLikeHeader([
        ['x', 'x'],
        ['1', '2'],
      ]),
    ).toBe(false);
    // MMLU without a header: the answer column is one letter, and so is the first row's.
    expect(
      looksLikeHeader([
        ['What is 2+2?', '3', '4', '5', '6', 'B'],
        ['Pick one', 'a', 'b', 'c', 'd', 'A'],
      ]),
    ).toBe(false);
    // Unknown names over a numeric column: a header.
    expect(
      looksLikeHeader([
        ['Frage', 'Punkte'],
        ['Wie?', '3'],
        ['Was?', '4'],
      ]),
    ).toBe(true);
    expect(
      looksLikeHeader([
        ['Wie?', '3'],
        ['Was?', '4'],
      ]),
    ).toBe(false);
  });

  it('names header-less columns col1… and takes the header when asked', () => {
    const t = read('x.csv', 'Wie?,3\nWas?,4\n');
    expect([t.header, t.columns, t.rows[0].values]).toEqual([false, ['col1', 'col2'], { col1: 'Wie?', col2: '3' }]);
    const forced = read('x.csv', 'Wie?,3\nWas?,4\n', true);
    expect([forced.columns, forced.rows.length]).toEqual([['Wie?', '3'], 1]);
  });
});

describe('readTable on delimited files', () => {
  it('strips a BOM, reports ragged rows with their line, and tolerates a trailing delimiter', () => {
    const t = read('d.tsv', '\ufeffsentence\tlabel\ngood .\t1\nbad .\t0\textra\nshort\nfine .\t1\t\n');
    expect(t.columns).toEqual(['sentence', 'label']);
    expect(t.rows.map((r) => [r.line, r.values.sentence])).toEqual([
      [2, 'good .'],
      [5, 'fine .'],
    ]);
    expect(t.issues).toEqual([
      { line: 3, message: "3 fields, expected 2 (the header's 2 columns)" },
      { line: 4, message: "1 field, expected 2 (the header's 2 columns)" },
    ]);
    expect(t.unreadable).toBe(2);
  });

  it('reads semicolon CSV and gives repeated or empty header names a usable form', () => {
    const t = read('eu.csv', 'text;label;text;\nbon;1;x;y\n');
    expect(t.columns).toEqual(['text', 'label', 'text_2', 'col4']);
    expect(t.rows[0].values).toEqual({ text: 'bon', label: '1', text_2: 'x', col4: 'y' });
  });

  it('keeps line numbers right after quoted multi-line fields', () => {
    expect(lines('q.csv', 'question,answer\n"a\nb\nc",1\n"d",2\n\n"e\r\nf",3\ng,4\n')).toEqual([2, 5, 7, 9]);
  });
});

describe('readTable on JSON files', () => {
  it('reads JSONL lines (blank and CRLF ones too) with their line numbers', () => {
    const t = read('t.jsonl', '{"prompt":"a","completion":"b"}\r\n\r\n{"prompt":"c","completion":"d","x":1}\n');
    expect(t.rows).toEqual([
      { line: 1, values: { prompt: 'a', completion: 'b' } },
      { line: 3, values: { prompt: 'c', completion: 'd', x: 1 } },
    ]);
    expect(t.columns).toEqual(['prompt', 'completion', 'x']);
  });

  it('gives each element of a pretty-printed list its line and index', () => {
    const t = read(
      'l.json',
      '[\n  {"input": "a", "target": "b"},\n  {\n    "input": "[1, {2}]",\n    "target": "c"\n  },\n  7\n]\n',
    );
    expect(t.rows.map((r) => [r.line, r.item])).toEqual([
      [2, 0],
      [3, 1],
    ]);
    expect(t.issues).toEqual([{ line: 7, item: 2, message: 'item 2: expected a JSON object, got a number' }]);
  });

  it('finds the example list inside an object (BBH), also after other lists', () => {
    const bbh = read(
      'b.json',
      '{"canary": "x", "meta": [1, 2], "examples": [\n{"input": "q", "target": "a"},\n{"input": "r", "target": "b"}]}',
    );
    expect([bbh.container, bbh.rows.map((r) => r.line)]).toEqual(['examples', [2, 3]]);
    expect(() => read('two.json', '{"train": [{"a": 1}], "extra": [{"b": 2}]}')).not.toThrow();
    expect(() => read('two.json', '{"one": [{"a": 1}], "two": [{"b": 2}]}')).toThrow(
      /holds several lists \(one, two\)/,
    );
    expect(() => read('none.json', '{"a": 1, "b": "c"}')).toThrow(/no list of examples \(keys "a", "b"\)/);
    expect(() => read('s.json', '"just text"')).toThrow(/expected a JSON list of examples .*got a string/);
  });

  it('expands nested instances into one row each, parent fields copied', () => {
    const t = read(
      'seed.jsonl',
      '{"id": 1, "instruction": "Add.", "instances": [{"input": "1 1", "output": "2"}, {"input": "2 2", "output": "4"}]}\n' +
        '{"id": 2, "instruction": "Greet.", "instances": [{"input": "", "output": "Hi"}]}\n',
    );
    expect(t.flattened).toBe('instances');
    expect(t.columns).toEqual(['id', 'instruction', 'input', 'output']);
    expect(t.rows.map((r) => [r.line, r.values.input, r.values.output])).toEqual([
      [1, '1 1', '2'],
      [1, '2 2', '4'],
      [2, '', 'Hi'],
    ]);
  });
});

describe('format sniffing', () => {
  it('goes by name and content', () => {
    expect(sniffFormat('a.jsonl', '[1]')).toBe('jsonl');
    expect(sniffFormat('a.json', '{"a": 1}\n{"a": 2}\n')).toBe('jsonl');
    expect(sniffFormat('a.json', '{\n "examples": []\n}')).toBe('json');
    expect(sniffFormat('a.txt', '[{"a": 1}]')).toBe('json');
    expect(sniffFormat('a.txt', 'q\ta\nx\ty\n')).toBe('tsv');
    expect(sniffFormat('a.csv', 'q\ta\nx\ty\n')).toBe('tsv');
    expect(sniffFormat('a.tsv', 'en\t["a", "b", "c"]\n')).toBe('tsv');
    expect(sniffFormat('a.csv', '{"looks": "like json"},x\n')).toBe('csv');
  });

  it('throws DatasetError for a file with no rows', () => {
    expect(() => read('h.csv', 'question,answer\n\n')).toThrow(DatasetError);
    expect(() => read('h.csv', 'question,answer\n\n')).toThrow(/h\.csv: no readable rows as CSV\./);
  });
});
