// Step 5, evaluation: the held-out set of each task (split by the run's seed, never trained on), scored by the
// base model and by the run's adapter: loss, exact match after greedy decoding, and choice accuracy for tasks
// with answer choices.

import type { TaskEvaluation } from '../../train/evaluate';
import { ErrorBox } from '../parts/common';
import { isActive, useRuns } from '../stores/runs';

const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(100 * v).toFixed(1)} %` : '–');
const num = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');

function delta(before: number | null | undefined, after: number | null | undefined, lowerIsBetter: boolean) {
  if (typeof before !== 'number' || typeof after !== 'number') return null;
  const better = lowerIsBetter ? after < before : after > before;
  return <span className={better ? 'ok' : after === before ? 'muted' : 'bad'}>{better ? '▲' : after === before ? '=' : '▼'}</span>;
}

export function EvalTable({ base, trained }: { base?: TaskEvaluation[]; trained?: TaskEvaluation[] }) {
  const rows = (trained ?? base ?? []).map((r, i) => ({ task: r.task, kind: r.kind, n: r.examples, b: base?.[i], t: trained?.[i] }));
  return (
    <table className="table" data-testid="eval-table">
      <thead>
        <tr><th scope="col">Task</th><th scope="col">Held-out</th><th scope="col">Loss before → after</th>
          <th scope="col">Exact match before → after</th><th scope="col">Choice accuracy before → after</th></tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.task}>
            <th scope="row">{r.task}</th><td>{r.n}</td>
            <td>{num(r.b?.loss)} → {num(r.t?.loss)} {delta(r.b?.loss, r.t?.loss, true)}</td>
            <td>{pct(r.b?.exact_match)} → {pct(r.t?.exact_match)} {delta(r.b?.exact_match, r.t?.exact_match, false)}</td>
            <td>{r.kind === 'multiple-choice' ? <>{pct(r.b?.choice_accuracy)} → {pct(r.t?.choice_accuracy)} {delta(r.b?.choice_accuracy, r.t?.choice_accuracy, false)}</> : 'n/a'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function EvaluatePanel() {
  const { runs, selected, busy, evaluate } = useRuns();
  const run = runs.find((r) => r.id === selected) ?? runs.at(-1);
  if (!run) return <section className="card"><h2>5 · Evaluate</h2><p className="muted">Train a run first.</p></section>;
  const working = busy[run.id];
  return (
    <section className="card" aria-labelledby="eval-h">
      <h2 id="eval-h">5 · Evaluate</h2>
      <p>{run.name}: held-out examples per task, before training (the base model) and after (with the adapter).</p>
      <button type="button" disabled={!!working || isActive(run) || run.iteration === 0} onClick={() => void evaluate(run.id)} data-testid="evaluate-run">
        {working ? 'Evaluating…' : run.evals.trained ? 'Evaluate again' : 'Evaluate'}
      </button>
      {isActive(run) && <span className="muted"> Pause or finish training first.</span>}
      <ErrorBox message={run.error} />
      {(run.evals.base || run.evals.trained) && <EvalTable base={run.evals.base} trained={run.evals.trained} />}
    </section>
  );
}
