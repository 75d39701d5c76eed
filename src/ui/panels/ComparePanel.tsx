// Step 6, comparison: several runs on the same data overlaid (mean query loss, held-out loss) with their final
// evaluations side by side, e.g. MeTA-LoRA against LoRA against the −STA ablation. Runs trained elsewhere (the
// PyTorch recipe's output, a cli train folder) are imported as a folder or a zip (parts/importedRun.ts).

import { type ChangeEvent, useDeferredValue, useMemo, useState } from 'react';
import { MEAN_TASK } from '../../train/metrics';
import { LineChartCard } from '../parts/LineChartCard';
import { chartRows, type Line } from '../parts/series';
import { groupByMethod } from '../parts/methodGroups';
import { formatStat } from '../../study/report';
import { ErrorBox } from '../parts/common';
import { importedRunFrom, unzipFiles } from '../parts/importedRun';
import { useRuns } from '../stores/runs';
import { METHOD_TEXT } from './MethodPanel';

const mean = (xs: (number | null | undefined)[]) => {
  const v = xs.filter((x): x is number => typeof x === 'number');
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
};

/** The picked files (a folder's, by relative path, or one zip's contents). */
async function pickedFiles(list: FileList): Promise<{ files: Map<string, Uint8Array>; source: string }> {
  const all = [...list];
  if (all.length === 1 && all[0].name.endsWith('.zip')) {
    return { files: unzipFiles(new Uint8Array(await all[0].arrayBuffer())), source: all[0].name };
  }
  const files = new Map(
    await Promise.all(
      all.map(
        async (f) => [f.webkitRelativePath || f.name, new Uint8Array(await f.arrayBuffer())] as [string, Uint8Array],
      ),
    ),
  );
  return { files, source: all[0]?.webkitRelativePath.split('/')[0] || 'the picked files' };
}

export function ComparePanel() {
  const runs = useRuns((s) => s.runs);
  const [picked, setPicked] = useState<string[]>([]);
  const [importError, setImportError] = useState<string | null>(null);
  const onImport = async (e: ChangeEvent<HTMLInputElement>) => {
    const list = e.target.files;
    if (!list || list.length === 0) return;
    setImportError(null);
    try {
      const { files, source } = await pickedFiles(list);
      const id = useRuns.getState().importRun(importedRunFrom(files, source));
      setPicked((p) => [...p, id]);
    } catch (err) {
      setImportError((err as Error).message);
    } finally {
      e.target.value = '';
    }
  };
  const chosen = useDeferredValue(
    runs.filter((r) => picked.includes(r.id)),
    [],
  );
  const sameData = chosen.every((r) => JSON.stringify(r.tasks) === JSON.stringify(chosen[0].tasks));
  const charts = useMemo(() => {
    const lines = (field: 'query_loss' | 'eval_loss'): Line[] =>
      chosen.map((r) => ({ key: r.id, label: r.name, rows: r.metrics, task: MEAN_TASK, field }));
    const legend = chosen.map((r) => ({ key: r.id, label: r.name }));
    return {
      query: { rows: chartRows(lines('query_loss')), lines: legend },
      held: { rows: chartRows(lines('eval_loss')), lines: legend },
    };
  }, [chosen]);

  return (
    <section className="card" aria-labelledby="compare-h">
      <h2 id="compare-h">6 · Compare runs</h2>
      {runs.length < 2 && (
        <p className="muted">
          Train two or more runs (for example MeTA-LoRA, LoRA and −STA on the same tasks) to compare them.
        </p>
      )}
      <fieldset>
        <legend>Runs</legend>
        {runs.map((r) => (
          <label key={r.id} className="inline">
            <input
              type="checkbox"
              checked={picked.includes(r.id)}
              data-testid={`compare-run-${r.id}`}
              onChange={(e) => {
                // From the latest list, not this render's: two quick clicks must both count.
                const on = e.target.checked;
                setPicked((now) => (on ? [...now.filter((p) => p !== r.id), r.id] : now.filter((p) => p !== r.id)));
              }}
            />
            {r.name} ({r.status}, {r.iteration} it.)
          </label>
        ))}
      </fieldset>
      <div className="row">
        <label className="inline">
          Import a run trained elsewhere (PyTorch recipe or CLI output): folder
          <input
            type="file"
            multiple
            onChange={(e) => void onImport(e)}
            data-testid="compare-import-folder"
            {...{ webkitdirectory: '' }}
          />
        </label>
        <label className="inline">
          or zip
          <input type="file" accept=".zip" onChange={(e) => void onImport(e)} data-testid="compare-import-zip" />
        </label>
      </div>
      <ErrorBox message={importError} testId="compare-import-error" />
      {!sameData && (
        <p className="warn">These runs trained on different tasks: their curves are not directly comparable.</p>
      )}
      {chosen.length > 0 && (
        <>
          <div className="charts">
            <LineChartCard title="Mean training / query loss" testId="compare-query" stagger={1} {...charts.query} />
            <LineChartCard title="Mean held-out loss" testId="compare-eval" stagger={100} {...charts.held} />
          </div>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Method</th>
                <th scope="col">Iterations</th>
                <th scope="col">Final held-out loss</th>
                <th scope="col">Mean answer accuracy</th>
                <th scope="col">After test-time adaptation</th>
              </tr>
            </thead>
            <tbody>
              {chosen.map((r) => {
                const held = r.metrics
                  .filter((m) => m.task === MEAN_TASK && m.eval_loss !== undefined)
                  .at(-1)?.eval_loss;
                const ev = r.evals.trained;
                return (
                  <tr key={r.id}>
                    <th scope="row">{r.name}</th>
                    <td>{METHOD_TEXT[r.settings.method].name}</td>
                    <td>{r.iteration}</td>
                    <td>{typeof held === 'number' ? held.toFixed(4) : '–'}</td>
                    <td>
                      {ev
                        ? `${(100 * (mean(ev.map((e) => e.shared?.answer_accuracy)) ?? 0)).toFixed(1)} %`
                        : 'not evaluated'}
                    </td>
                    <td>
                      {ev && ev.some((e) => e.adapted)
                        ? `${(100 * (mean(ev.map((e) => e.adapted?.answer_accuracy)) ?? 0)).toFixed(1)} %`
                        : '–'}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <h3>By method (mean ± sd over runs, e.g. seeds)</h3>
          <table className="table" data-testid="compare-methods">
            <thead>
              <tr>
                <th scope="col">Method</th>
                <th scope="col">Runs</th>
                <th scope="col">Final held-out loss</th>
                <th scope="col">Answer accuracy (%)</th>
                <th scope="col">After test-time adaptation (%)</th>
              </tr>
            </thead>
            <tbody>
              {groupByMethod(chosen).map((g) => (
                <tr key={g.method}>
                  <th scope="row">{METHOD_TEXT[g.method].name}</th>
                  <td>
                    {g.runs} (seeds {g.seeds.join(', ')})
                  </td>
                  <td>{formatStat(g.heldOut, false)}</td>
                  <td>{formatStat(g.answers, true)}</td>
                  <td>{formatStat(g.adaptedAnswers, true)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
