// `npm run bench -- parsing`: host-side parsing times the unit tests used to assert and no longer do (elapsed
// time flakes on a loaded machine): adversarial CSV quoting and long JSON (tests/unit/dataMalformed.test.ts),
// GSM8K's train.jsonl (dataShared.test.ts), and BPE merges on 20 000 characters (bpeMerge.test.ts).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTable } from '../src/data';
import type { GpuContext } from '../src/gpu/context';
import { memorySource } from '../src/io/byteSource';
import { readLlama2cTokenizer } from '../src/io/llama2c';
import { ScoredBpeTokenizer } from '../src/io/llama2cTokenizer';
import { table } from './harness';
import { SHARED, saveResults } from './files';
const bytes = (s: string) => new TextEncoder().encode(s);

/** Median milliseconds of `f` over 5 runs. */
function ms(f: () => unknown): number {
  const times = Array.from({ length: 5 }, () => {
    const t0 = performance.now();
    f();
    return performance.now() - t0;
  }).sort((a, b) => a - b);
  return times[2];
}

export async function benchParsing(ctx: GpuContext): Promise<void> {
  const n = 200_000;
  const gsm8k = new Uint8Array(readFileSync(join(SHARED, 'data/gsm8k/train.jsonl')));
  const vocab = await readLlama2cTokenizer(
    memorySource(new Uint8Array(readFileSync(join(SHARED, 'models/stories260K/tok512.bin')))),
    512,
  );
  const tok = new ScoredBpeTokenizer(vocab);
  const prose = new TextDecoder().decode(gsm8k).slice(0, 20_000);
  const cases: [string, () => unknown][] = [
    [
      'CSV: 200k fields opening quotes',
      () => readTable('a.csv', bytes(Array.from({ length: n }, () => '"ab').join(',')), { header: false }),
    ],
    [
      'CSV: one quote never closed, 800k chars',
      () => readTable('b.csv', bytes(`"${'x'.repeat(4 * n)}`), { header: false }),
    ],
    [
      'JSON: 50k examples on one line',
      () =>
        readTable(
          'c.json',
          bytes(
            JSON.stringify({
              examples: Array.from({ length: 50_000 }, (_, i) => ({
                input: `q${i} ${'x'.repeat(50)}`,
                target: `${i % 3}`,
              })),
            }),
          ),
        ),
    ],
    ['GSM8K train.jsonl (7473 rows)', () => readTable('train.jsonl', gsm8k)],
    ['BPE: 20 000 characters of GSM8K', () => tok.encode(prose)],
    ['BPE: "ab" × 10 000', () => tok.encode('ab'.repeat(10_000))],
  ];
  const rows = cases.map(([name, f]) => ({ case: name, 'median ms': ms(f).toFixed(1) }));
  console.log(table(rows));
  console.log(`saved ${saveResults(ctx, 'parsing', rows)}`);
}
