// Chart rows for the app (src/ui/parts/series.ts): one row per iteration with a column per line, training and
// evaluation rows kept apart, non-finite values left out, and long runs thinned by bucket means.

import { describe, expect, it } from 'vitest';
import type { MetricsRecord } from '../../src/train/metrics';
import { chartRows, taskLines, thin } from '../../src/ui/parts/series';

const row = (iteration: number, task: string, q: number | null, extra: Partial<MetricsRecord> = {}): MetricsRecord => ({
  iteration,
  task,
  support_loss: q === null ? null : q + 1,
  query_loss: q,
  lr: 1e-3,
  tokens_per_s: 100,
  ...extra,
});

describe('chart series', () => {
  it('builds one row per iteration with a column per task and the mean; eval rows only on the eval chart', () => {
    const metrics = [
      row(1, 'a', 2),
      row(1, 'b', 4),
      row(1, 'mean', 3),
      row(2, 'a', 1),
      row(2, 'mean', 1), // b not sampled at iteration 2
      row(2, 'a', null, { eval_loss: 1.5 }),
      row(2, 'mean', null, { eval_loss: 1.5 }),
      row(3, 'a', Number.NaN),
      row(3, 'b', 3),
      row(3, 'mean', 3),
    ];
    expect(chartRows(taskLines(metrics, ['a', 'b'], 'query_loss'))).toEqual([
      { iteration: 1, a: 2, b: 4, mean: 3 },
      { iteration: 2, a: 1, mean: 1 },
      { iteration: 3, b: 3, mean: 3 },
    ]);
    expect(chartRows(taskLines(metrics, ['a', 'b'], 'eval_loss'))).toEqual([{ iteration: 2, a: 1.5, mean: 1.5 }]);
    expect(chartRows(taskLines(metrics, ['a', 'b'], 'support_loss'))[0]).toEqual({ iteration: 1, a: 3, b: 5, mean: 4 });
  });

  it("thins long series into bucket means ending at each bucket's last iteration", () => {
    const pts = Array.from({ length: 1000 }, (_, i) => ({ x: i + 1, y: i }));
    const out = thin(pts, 300);
    expect(out.length).toBeLessThanOrEqual(300);
    expect(out[0]).toEqual({ x: 4, y: 1.5 }); // buckets of ceil(1000/300) = 4
    expect(out.at(-1)!.x).toBe(1000);
    expect(thin(pts.slice(0, 10), 300)).toEqual(pts.slice(0, 10));
    const metrics = pts.map((p) => row(p.x, 'mean', p.y));
    expect(chartRows(taskLines(metrics, [], 'query_loss')).length).toBe(out.length);
  });
});
