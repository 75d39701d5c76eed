// Malformed task files fail clearly and quickly: a broken JSONL line becomes a reported row (the rest is used),
// a broken JSON file names its line, ragged CSV rows are listed with their lines, empty and binary files
// (random bytes, a PNG header, the real stories260K GGUF, UTF-16, bad UTF-8 past the sniffed KiB) are refused
// with what they are, a 100 MB file is refused by its size before decoding, and adversarial quoting stays
// linear. No case asserts elapsed time (that flakes on a loaded machine): the adversarial inputs are sized so a
// quadratic parser would run for hours, and the test's generous timeout (ADVERSARIAL_TIMEOUT) catches that;
// `npm run bench -- parsing` measures the times.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DatasetError, MAX_FILE_BYTES, applyMapping, detectMapping, readTable } from '../../src/data';
import { freshSeed, rng } from '../helpers/random';
import { sharedPath } from '../helpers/shared';

const bytes = (s: string) => new TextEncoder().encode(s);

/** Generous: each case parses in well under a second; a quadratic parser would take hours on these sizes. */
const ADVERSARIAL_TIMEOUT = 60_000;

const refusal = (name: string, data: Uint8Array) =>
  ((): string => {
    try {
      readTable(name, data);
    } catch (e) {
      expect(e).toBeInstanceOf(DatasetError);
      return (e as Error).message;
    }
    throw new Error(`${name} was accepted`);
  })();

describe('malformed rows are reported, the rest is used', () => {
  it('a broken JSONL line is an unreadable row named by its line', () => {
    const text =
      '{"prompt": "a", "completion": "b"}\n{"prompt": "c", "completion": \n{"prompt": "e", "completion": "f"}\n[1, 2]\n';
    const table = readTable('t.jsonl', bytes(text));
    expect(table.rows.map((r) => r.line)).toEqual([1, 3]);
    expect(table.issues.map((i) => i.line)).toEqual([2, 4]);
    expect(table.issues[0].message).toMatch(/^not valid JSON \(/);
    expect(table.issues[1].message).toBe('expected a JSON object, got a list');
    const { report, tasks } = applyMapping(table, detectMapping(table));
    expect(tasks[0].examples.map((e) => e.completion)).toEqual(['b', 'f']);
    expect(report).toMatchObject({ rows: 4, used: 2, skipped: 2, counts: { unreadable: 2 } });
    expect(report.issues.map((i) => [i.line, i.kind, i.action])).toEqual([
      [2, 'unreadable', 'skipped'],
      [4, 'unreadable', 'skipped'],
    ]);
  });

  it('a JSONL file with no good line, and a broken JSON file, are refused naming the line', () => {
    expect(refusal('t.jsonl', bytes('{oops\n{"a": }\n'))).toMatch(
      /t\.jsonl: no readable rows as JSONL \(line 1: not valid JSON .*; 1 more like it\)/,
    );
    expect(refusal('t.json', bytes('[\n  {"a": 1},\n  {"a": 2},\n  {"a" 3}\n]\n'))).toMatch(
      /^t\.json, line 4: not valid JSON/,
    );
  });

  it('ragged CSV rows are listed with their lines; the report keeps rows = used + skipped', () => {
    const text = 'question,answer\nq1,a1\nq2\nq3,a3,extra\n"q4\nstill q4",a4\nq5,a5,"x"\n';
    const table = readTable('r.csv', bytes(text));
    expect(table.issues).toEqual([
      { line: 3, message: "1 field, expected 2 (the header's 2 columns)" },
      { line: 4, message: "3 fields, expected 2 (the header's 2 columns)" },
      { line: 7, message: "3 fields, expected 2 (the header's 2 columns)" },
    ]);
    const { report } = applyMapping(table, detectMapping(table));
    expect([report.rows, report.used, report.skipped]).toEqual([5, 2, 3]);
  });
});

describe('unusable files are refused with the reason', () => {
  it('empty and blank files', () => {
    expect(refusal('e.jsonl', new Uint8Array(0))).toBe('e.jsonl is empty.');
    expect(refusal('e.csv', bytes(' \n\r\n\t'))).toBe('e.csv is empty.');
    expect(refusal('e.csv', bytes('\ufeff'))).toBe('e.csv is empty.');
  });

  const seed = freshSeed();
  it(`random bytes (seed ${seed})`, () => {
    const random = rng(seed);
    const data = Uint8Array.from({ length: 4096 }, () => Math.floor(random() * 256));
    // A high first byte keeps it from posing as UTF-16 or a known format by chance.
    data[0] = 0xc0;
    expect(refusal('r.csv', data)).toMatch(
      /r\.csv looks like a binary file \(NUL bytes or invalid UTF-8 in its first 1024 bytes\)/,
    );
  });

  it('known binary formats by their magic number', () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    expect(refusal('data.csv', png)).toMatch(/data\.csv is a PNG image, not a text dataset/);
    const gguf = new Uint8Array(readFileSync(sharedPath('models/stories260K/stories260K.gguf')));
    expect(refusal('stories260K.gguf', gguf)).toMatch(/is a GGUF model file \(load it as the model, not as a task\)/);
    expect(refusal('sheet.csv', bytes('PK\x03\x04rest'))).toMatch(
      /ZIP archive \(an \.xlsx workbook\? export the sheet as CSV\)/,
    );
  });

  it('UTF-16 and invalid UTF-8 past the sniffed start, with its line', () => {
    expect(refusal('w.csv', Uint8Array.from([0xff, 0xfe, 0x61, 0]))).toBe('w.csv is UTF-16 text; save it as UTF-8.');
    const latin1 = new Uint8Array([
      ...bytes(`${'text,label\n'}${'good,1\n'.repeat(300)}`),
      ...[0x63, 0x61, 0x66, 0xe9],
      ...bytes(',1\n'),
    ]);
    expect(refusal('l.csv', latin1)).toMatch(
      /^l\.csv, line 302: not valid UTF-8 \(byte 0xe9 at offset 2114\); save the file as UTF-8\.$/,
    );
  });

  it('a 100 MB file is refused by its size, before decoding', () => {
    // Bytes that are not UTF-8: had the file been decoded (or sniffed) first, the refusal would say so.
    const huge = new Uint8Array(100 * 2 ** 20).fill(0xff);
    expect(refusal('huge.jsonl', huge)).toMatch(/^huge\.jsonl: 100 MiB is over the 64 MiB limit for a task file/);
    expect(MAX_FILE_BYTES).toBe(64 * 2 ** 20);
  });
});

describe('parsing stays linear on adversarial input', () => {
  it(
    'fields that open quotes and never close them, or close them early, over megabytes',
    () => {
      const n = 200_000;
      const cases = [
        Array.from({ length: n }, () => '"ab').join(','), // every field opens a quote the next one "closes"
        `"${'x'.repeat(4 * n)}`, // one quote that never closes
        Array.from({ length: n }, () => '"""x').join('\t'), // runs of quotes
        `a,b\n${'"q"",'.repeat(n)}\n`,
      ];
      for (const text of cases) {
        const table = readTable('adv.csv', bytes(text), { header: false });
        expect(table.rows.length + table.unreadable).toBeGreaterThan(0);
      }
    },
    ADVERSARIAL_TIMEOUT,
  );

  it(
    'a long one-line JSON and a long JSONL line',
    () => {
      const long = JSON.stringify({
        examples: Array.from({ length: 50_000 }, (_, i) => ({ input: `q${i} ${'x'.repeat(50)}`, target: `${i % 3}` })),
      });
      const t = readTable('b.json', bytes(long));
      expect([t.rows.length, t.rows[49_999].line, t.rows[49_999].item]).toEqual([50_000, 1, 49_999]);
      const line = readTable('l.jsonl', bytes(`{"prompt": "${'p'.repeat(5_000_000)}", "completion": "c"}\n`));
      expect(line.rows.length).toBe(1);
    },
    ADVERSARIAL_TIMEOUT,
  );
});
