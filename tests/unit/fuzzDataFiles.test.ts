// Property-based fuzzing of the task-file path a user's upload takes (tests/helpers/fuzz.ts): readTable
// (size and binary checks, UTF-8, format sniffing, JSONL / JSON / CSV / TSV parsing), then detectMapping,
// preview, applyMapping with a real tokenizer and splitTasks. Seeds are the demo task files (one per format)
// and the first lines of real datasets in ../shared; each case must end in tasks with a consistent report or
// in a DatasetError with a message. Hand-picked malformed files stay in dataMalformed.test.ts.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DatasetError, applyMapping, detectMapping, preview, readTable, splitTasks } from '../../src/data';
import { memorySource } from '../../src/io/byteSource';
import { readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import {
  type JsonValue,
  SYNTAX,
  editJson,
  fc,
  fuzzParams,
  fuzzSeed,
  jsonEdits,
  mutate,
  outcome,
  textMutations,
} from '../helpers/fuzz';
import { sharedPath } from '../helpers/shared';

const ROWS = 24;
/**
 * The first rows of a task file (lines, or the items of a JSON file's list): small enough that a case costs
 * little, real in its quirks.
 */
function firstRows(path: string, rows = ROWS): Uint8Array {
  const text = readFileSync(path, 'utf8');
  if (!path.endsWith('.json')) return new TextEncoder().encode(text.split('\n').slice(0, rows).join('\n'));
  const doc = JSON.parse(text) as unknown[] | { examples: unknown[] };
  const cut = Array.isArray(doc) ? doc.slice(0, rows) : { ...doc, examples: doc.examples.slice(0, rows) };
  return new TextEncoder().encode(JSON.stringify(cut, null, 1));
}
const repoFile = (path: string) => firstRows(new URL(`../../${path}`, import.meta.url).pathname);
const firstLines = (path: string, rows: number) => firstRows(sharedPath(path), rows);

const SEEDS: { name: string; bytes: Uint8Array }[] = [
  { name: 'arithmetic.jsonl', bytes: repoFile('public/demo/instruct/arithmetic.jsonl') },
  { name: 'capitals.json', bytes: repoFile('public/demo/instruct/capitals.json') },
  { name: 'sentiment.csv', bytes: repoFile('public/demo/instruct/sentiment.csv') },
  { name: 'yesno.tsv', bytes: repoFile('public/demo/instruct/yesno.tsv') },
  { name: 'colors.jsonl', bytes: repoFile('public/demo/stories/colors.jsonl') },
  { name: 'boolean_expressions.json', bytes: firstLines('data/bbh/boolean_expressions.json', ROWS) },
  { name: 'in_domain_dev.tsv', bytes: firstLines('data/glue/CoLA/in_domain_dev.tsv', ROWS) },
  { name: 'valid.csv', bytes: firstLines('data/cosmosqa/valid.csv', 12) },
  { name: 'test.jsonl', bytes: firstLines('data/gsm8k/test.jsonl', 8) },
];
/** The same bytes under another name: the extension steers format sniffing. */
const NAMES = ['', '.jsonl', '.json', '.csv', '.tsv', '.txt'];

const TOKENIZER = new ScoredBpeTokenizer(
  await readLlama2cTokenizer(
    memorySource(new Uint8Array(readFileSync(sharedPath('models/stories260K/tok512.bin')))),
    512,
  ),
);

/** Everything the Tasks panel does with a file, without a model's chat template. */
function useDataset(name: string, bytes: Uint8Array, policy: 'truncate' | 'skip'): void {
  const table = readTable(name, bytes);
  const mapping = detectMapping(table);
  preview(table, mapping, 3);
  const { tasks, report } = applyMapping(table, mapping, { tokens: { tokenizer: TOKENIZER, maxLength: 48, policy } });
  expect(report.used + report.skipped).toBe(report.rows);
  expect(tasks.reduce((n, t) => n + t.examples.length, 0)).toBe(report.used);
  splitTasks(
    tasks.filter((t) => t.examples.length > 0),
    { seed: 1, poolSize: 8, evalMax: 8 },
  );
}

const renamed = (name: string, ext: string) => (ext ? name.replace(/\.[a-z]+$/, ext) : name);

describe('fuzzed task files', () => {
  const seed = fuzzSeed();
  it(`mutated dataset files, under their own and other extensions (FUZZ_SEED=${seed})`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(SEEDS.length - 1),
        fc.constantFrom(...NAMES),
        textMutations,
        fc.constantFrom('truncate' as const, 'skip' as const),
        async (which, ext, edits, policy) => {
          const { name, bytes } = SEEDS[which];
          const file = mutate(bytes, edits, 512);
          await outcome([DatasetError], file.length, () => useDataset(renamed(name, ext), file, policy));
        },
      ),
      fuzzParams(seed),
    );
  });

  const seed2 = fuzzSeed();
  it(`JSON and JSONL examples with fields of the wrong type (FUZZ_SEED=${seed2})`, async () => {
    const jsonSeeds = SEEDS.filter((s) => /\.jsonl?$/.test(s.name));
    await fc.assert(
      fc.asyncProperty(fc.nat(jsonSeeds.length - 1), jsonEdits, async (which, edits) => {
        const { name, bytes } = jsonSeeds[which];
        const text = new TextDecoder().decode(bytes);
        let out: string;
        if (name.endsWith('.jsonl')) {
          // One line's object edited, the others kept: JSONL rows are read one by one.
          const lines = text.split('\n');
          const at = edits[0].pick % lines.length;
          out = lines
            .map((l, i) => (i === at && l.trim() ? JSON.stringify(editJson(JSON.parse(l) as JsonValue, edits)) : l))
            .join('\n');
        } else {
          out = JSON.stringify(editJson(JSON.parse(text) as JsonValue, edits), null, 1);
        }
        const file = new TextEncoder().encode(out);
        await outcome([DatasetError], file.length, () => useDataset(name, file, 'truncate'));
      }),
      fuzzParams(seed2),
    );
  });

  const seed3 = fuzzSeed();
  it(`text made of delimiters, quotes, brackets and line ends (FUZZ_SEED=${seed3})`, async () => {
    const token = fc.oneof(fc.constantFrom(...SYNTAX), fc.string({ maxLength: 4 }));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...NAMES.map((e) => `t${e}`)),
        fc.array(token, { maxLength: 200 }),
        async (name, tokens) => {
          const file = new TextEncoder().encode(tokens.join(''));
          await outcome([DatasetError], file.length, () => useDataset(name, file, 'skip'));
        },
      ),
      fuzzParams(seed3),
    );
  });
});
