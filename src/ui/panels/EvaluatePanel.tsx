// Step 5, evaluation: the held-out set of each task (split by the run's seed, never trained on), scored by the
// base model, by the run's adapter as it is, and after test-time adaptation (the run's inner steps on k
// training examples of the task): loss (with and without the EOS target), answer accuracy (the greedy answer
// cut where the reference ends, normalised), strict exact match, and choice accuracy for multiple-choice tasks.

import type { Scores, TaskResult } from '../../train/evaluateTasks';
import { ErrorBox } from '../parts/common';
import { isActive, useRuns } from '../stores/runs';

const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(100 * v).toFixed(1)} %` : '–');
const num = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');

function mark(before: number | null | undefined, after: number | null | undefined, lowerIsBetter: boolean) {
  if (typeof before !== 'number' || typeof after !== 'number') return null;
  const better = lowerIsBetter ? after < before : after > before;
  return (
    <span className={better ? 'ok' : after === before ? 'muted' : 'bad'}>
      {better ? '▲' : after === before ? '=' : '▼'}
    </span>
  );
}

type Metric = 'loss' | 'loss_no_eos' | 'answer_accuracy' | 'exact_match' | 'choice_accuracy';

/** "base → adapter → adapted" for one metric, each later value marked against the base. */
function Cell({ m, b, t, a }: { m: Metric; b?: Scores | null; t?: Scores | null; a?: Scores | null }) {
  const lower = m === 'loss' || m === 'loss_no_eos';
  const f = lower ? num : pct;
  return (
    <td data-metric={m} data-base={b?.[m] ?? ''} data-adapter={t?.[m] ?? ''} data-adapted={a?.[m] ?? ''}>
      {f(b?.[m])} → {f(t?.[m])} {mark(b?.[m], t?.[m], lower)}
      {a && (
        <>
          {' '}
          → {f(a[m])} {mark(b?.[m], a[m], lower)}
        </>
      )}
    </td>
  );
}

export function EvalTable({ base, trained }: { base?: TaskResult[]; trained?: TaskResult[] }) {
  const rows = (trained ?? base ?? []).map((r, i) => ({
    r,
    b: base?.[i]?.shared,
    t: trained?.[i]?.shared,
    a: trained?.[i]?.adapted,
  }));
  const adapted = rows.some((x) => x.a);
  return (
    <table className="table" data-testid="eval-table">
      <caption className="muted">
        base → adapter{adapted ? ' → adapted to the task (test-time adaptation)' : ''}
      </caption>
      <thead>
        <tr>
          <th scope="col">Task</th>
          <th scope="col">Held-out</th>
          <th scope="col">Loss</th>
          <th scope="col">Loss without EOS</th>
          <th scope="col">Answer accuracy</th>
          <th scope="col">Exact match</th>
          <th scope="col">Choice accuracy</th>
        </tr>
      </thead>
      <tbody>
        {rows.map(({ r, b, t, a }) => (
          <tr key={r.task} data-task={r.task}>
            <th scope="row">{r.task}</th>
            {r.split === 'none' ? (
              <td colSpan={6} className="warn">
                not evaluated: {r.note}
              </td>
            ) : (
              <>
                <td>{r.examples}</td>
                {(['loss', 'loss_no_eos', 'answer_accuracy', 'exact_match'] as const).map((m) => (
                  <Cell key={m} m={m} b={b} t={t} a={a} />
                ))}
                {r.kind === 'multiple-choice' ? <Cell m="choice_accuracy" b={b} t={t} a={a} /> : <td>n/a</td>}
              </>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function EvaluatePanel() {
  const { runs, selected, busy, evaluate } = useRuns();
  const run = runs.find((r) => r.id === selected) ?? runs.at(-1);
  if (!run)
    return (
      <section className="card">
        <h2>5 · Evaluate</h2>
        <p className="muted">Train a run first.</p>
      </section>
    );
  const working = busy[run.id];
  return (
    <section className="card" aria-labelledby="eval-h">
      <h2 id="eval-h">5 · Evaluate</h2>
      <p>
        {run.name}: held-out examples per task, before training (the base model), with the adapter as trained, and with
        the adapter adapted to each task on {run.settings.adaptExamples || run.settings.supportSize} of its training
        examples ({run.settings.innerSteps} SGD steps at {run.settings.innerLr}). Answer accuracy: the greedy answer,
        cut where the reference ends, compared case- and punctuation-insensitively.
      </p>
      <button
        type="button"
        disabled={!!working || isActive(run) || run.iteration === 0}
        onClick={() => void evaluate(run.id)}
        data-testid="evaluate-run"
      >
        {working ? 'Evaluating…' : run.evals.trained ? 'Evaluate again' : 'Evaluate'}
      </button>
      {isActive(run) && <span className="muted"> Pause or finish training first.</span>}
      <ErrorBox message={run.error} />
      {(run.evals.base || run.evals.trained) && <EvalTable base={run.evals.base} trained={run.evals.trained} />}
    </section>
  );
}
