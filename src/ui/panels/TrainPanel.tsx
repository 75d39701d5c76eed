// Step 4, training: start a run from the current tasks and settings; pause, resume, stop; a progress bar with
// ETA, tokens/s, learning rate and GPU memory; live charts of support and query loss per task with their mean,
// held-out loss, learning rate and throughput. Charts read thinned series (parts/series.ts).

import { type ReactNode, useDeferredValue, useEffect, useMemo, useRef, useState } from 'react';
import { MEAN_TASK } from '../../train/metrics';
import { LineChartCard } from '../parts/LineChartCard';
import { ErrorBox, fmtBytes, fmtDuration, Progress } from '../parts/common';
import { chartRows, taskLines } from '../parts/series';
import { useModel } from '../stores/model';
import { isActive, type RunRecord, useRuns } from '../stores/runs';
import { useSettings } from '../stores/settings';
import { activeTasks, useTasks } from '../stores/tasks';
import { METHOD_TEXT } from './MethodPanel';

/** Children mount only while the surrounding <details> is open: closed charts cost nothing per update. */
function LazyCharts({ children }: { children: ReactNode }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => {
    const details = ref.current?.closest('details');
    if (!details) return;
    const sync = () => setOpen(details.open);
    details.addEventListener('toggle', sync);
    return () => details.removeEventListener('toggle', sync);
  }, []);
  return (
    <span ref={ref} className="lazy-charts">
      {open && children}
    </span>
  );
}

function RunCharts({ run }: { run: RunRecord }) {
  const { tasks, settings } = run;
  // Charts redraw in a background transition, which React time-slices: a new point never blocks the page
  // for long, even when five charts with hundreds of points each redraw on a busy CPU.
  const metrics = useDeferredValue(run.metrics, []);
  const charts = useMemo(() => {
    const lines = (field: 'support_loss' | 'query_loss' | 'eval_loss') => taskLines(metrics, tasks, field);
    const legend = (field: 'support_loss' | 'query_loss' | 'eval_loss') =>
      lines(field).map((l) => ({ key: l.key, label: l.label, emphasis: l.task === MEAN_TASK }));
    const single = (field: 'lr' | 'tokens_per_s') => [
      { key: field, label: field === 'lr' ? 'learning rate' : 'tokens/s', rows: metrics, task: MEAN_TASK, field },
    ];
    return {
      support: { rows: chartRows(lines('support_loss')), lines: legend('support_loss') },
      query: { rows: chartRows(lines('query_loss')), lines: legend('query_loss') },
      held: { rows: chartRows(lines('eval_loss')), lines: legend('eval_loss') },
      lr: { rows: chartRows(single('lr')), lines: [{ key: 'lr', label: 'learning rate' }] },
      speed: { rows: chartRows(single('tokens_per_s')), lines: [{ key: 'tokens_per_s', label: 'tokens/s' }] },
    };
  }, [metrics, tasks]);
  const meta = settings.method.startsWith('meta');
  return (
    <div className="charts">
      {meta && (
        <LineChartCard
          title="Support loss (before the inner steps)"
          testId="chart-support"
          stagger={100}
          {...charts.support}
        />
      )}
      <LineChartCard
        title={meta ? 'Query loss (after adaptation)' : 'Training loss'}
        testId="chart-query"
        stagger={1}
        {...charts.query}
      />
      <LineChartCard title="Held-out loss" testId="chart-eval" stagger={200} {...charts.held} />
      <details className="more-charts">
        <summary>Learning rate and throughput</summary>
        <LazyCharts>
          <LineChartCard title="Learning rate" testId="chart-lr" stagger={1} {...charts.lr} />
          <LineChartCard title="Throughput" testId="chart-speed" stagger={100} {...charts.speed} />
        </LazyCharts>
      </details>
    </div>
  );
}

export function TrainPanel() {
  const { runs, selected, pace, select, start, pause, resume, stop } = useRuns();
  const settings = useSettings((s) => s.settings);
  const datasets = useTasks((s) => s.datasets);
  const model = useModel((s) => s.summary);
  const tasks = useMemo(() => activeTasks(datasets), [datasets]);
  const run = runs.find((r) => r.id === selected) ?? runs.at(-1);
  const anyActive = runs.some(isActive);
  const last = run?.metrics.filter((r) => r.task === MEAN_TASK && r.eval_loss === undefined).at(-1);
  const spi = run ? pace[run.id]?.secondsPerIteration : null;
  const eta = run && spi ? (run.settings.iterations - run.iteration) * spi : null;
  const cannotStart = !model
    ? 'Load a model first (step 1).'
    : tasks.length === 0
      ? 'Add at least one task (step 2).'
      : anyActive
        ? 'A run is already training.'
        : null;

  return (
    <section className="card" aria-labelledby="train-h">
      <h2 id="train-h">4 · Train</h2>
      <div className="row">
        <button
          type="button"
          disabled={!!cannotStart}
          onClick={() => void start(tasks, settings)}
          data-testid="start-run"
        >
          Start {METHOD_TEXT[settings.method].name} ({settings.iterations} iterations, {tasks.length} tasks)
        </button>
        {cannotStart && <span className="muted">{cannotStart}</span>}
      </div>
      {runs.length > 0 && (
        <label>
          Run
          <select value={run?.id} onChange={(e) => select(e.target.value)} data-testid="run-select">
            {runs.map((r) => (
              <option key={r.id} value={r.id}>
                {r.name} — {r.status}
              </option>
            ))}
          </select>
        </label>
      )}
      {run && (
        <>
          <div className="row" data-testid="run-status" data-status={run.status}>
            <strong>{run.status}</strong>
            {(run.status === 'running' || run.status === 'starting') && (
              <button type="button" className="secondary" onClick={() => void pause(run.id)} data-testid="pause-run">
                Pause
              </button>
            )}
            {(run.status === 'paused' ||
              run.status === 'interrupted' ||
              run.status === 'stopped' ||
              (run.status === 'failed' && run.iteration > 0)) &&
              run.iteration < run.settings.iterations && (
                <button type="button" onClick={() => void resume(run.id)} data-testid="resume-run">
                  Resume
                </button>
              )}
            {(run.status === 'running' || run.status === 'paused') && (
              <button type="button" className="danger" onClick={() => void stop(run.id)} data-testid="stop-run">
                Stop
              </button>
            )}
          </div>
          <Progress
            testId="train-progress"
            done={run.iteration}
            total={run.settings.iterations}
            label={`Iteration ${run.iteration} of ${run.settings.iterations}${eta !== null && isActive(run) ? `, about ${fmtDuration(eta)} left` : ''}`}
          />
          <p className="stats">
            {last && (
              <>
                query loss {last.query_loss?.toFixed(4)} · lr {last.lr.toExponential(2)} ·{' '}
                {last.tokens_per_s.toFixed(0)} tokens/s ·{' '}
              </>
            )}
            GPU memory {fmtBytes(run.gpuBytes)} · {run.model.label} ·{' '}
            {Object.entries(run.counts)
              .map(([t, c]) => `${t} ${c.train}/${c.eval}`)
              .join(', ')}{' '}
            (train/held-out)
          </p>
          {run.status === 'interrupted' && (
            <p className="warn">
              This run stopped when the page closed or the GPU was lost. Resume continues from its last checkpoint.
            </p>
          )}
          <ErrorBox message={run.error} testId="run-error" />
          <RunCharts key={run.id} run={run} />
        </>
      )}
    </section>
  );
}
