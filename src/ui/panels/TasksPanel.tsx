// Step 2, tasks: upload one file per task (or one file with a task column), see how it was read, edit the
// field mapping, read the validation report (rows used and skipped, with line numbers and reasons), preview
// the first examples, and see each task's split into a training pool and a held-out set under the settings.

import { useMemo } from 'react';
import { ErrorBox } from '../parts/common';
import { useModel } from '../stores/model';
import { useSettings } from '../stores/settings';
import { activeTasks, clashingNames, type DatasetRecord, useTasks } from '../stores/tasks';
import { useEngineResult } from '../useEngineResult';
import { MappingEditor } from './MappingEditor';

export const DEMO_SETS = {
  stories: ['animals', 'colors', 'feelings', 'routine'].map((n) => `demo/stories/${n}.jsonl`),
  instruct: ['sentiment.csv', 'yesno.tsv', 'arithmetic.jsonl', 'capitals.json'].map((n) => `demo/instruct/${n}`),
};

function Report({ d }: { d: DatasetRecord }) {
  const r = d.result!.report;
  return (
    <div className="report" data-testid="dataset-report">
      <p>
        {r.format.toUpperCase()}
        {r.format === 'csv' || r.format === 'tsv' ? (r.header ? ', with a header' : ', no header') : ''} ·{' '}
        <strong>{r.rows}</strong> rows read, <strong>{r.used}</strong> used,{' '}
        <strong className={r.skipped ? 'bad' : ''}>{r.skipped}</strong> skipped
        {r.duplicates > 0 && (
          <>
            , {r.duplicates} duplicates ({r.duplicatePolicy === 'drop' ? 'dropped' : 'kept'})
          </>
        )}
        {r.maxLength && (
          <>
            , {r.truncated} over {r.maxLength.tokens} tokens ({r.maxLength.policy === 'skip' ? 'skipped' : 'truncated'};
            longest {r.maxLength.longest})
          </>
        )}
        {!r.maxLength && <span className="muted"> (load a model to check lengths in its tokens)</span>}
      </p>
      {r.issues.length > 0 && (
        <details>
          <summary>{r.issues.length + r.omittedIssues} issues</summary>
          <ul className="issues">
            {r.issues.slice(0, 50).map((i, k) => (
              <li key={k}>
                line {i.line}
                {i.item !== undefined ? ` (item ${i.item})` : ''}: {i.kind}, {i.action} — {i.message}
              </li>
            ))}
          </ul>
          {r.issues.length + r.omittedIssues > 50 && (
            <p className="muted">… and {r.issues.length + r.omittedIssues - 50} more.</p>
          )}
        </details>
      )}
    </div>
  );
}

function Preview({ d }: { d: DatasetRecord }) {
  return (
    <details>
      <summary>Preview of the first rows</summary>
      {d.result!.preview.map((p, i) => (
        <pre key={i} className="preview">
          {p.issue
            ? `line ${p.line}: ${p.issue.message}`
            : `line ${p.line} · ${p.task}\n${p.prompt}⟨completion⟩${p.completion}${p.choices ? `\nchoices: ${p.choices.join(' | ')}` : ''}`}
        </pre>
      ))}
    </details>
  );
}

function DatasetCard({ d }: { d: DatasetRecord }) {
  const { setOptions, remove } = useTasks();
  const hasChat = useModel((s) => !!s.summary?.hasChatTemplate);
  return (
    <article className="dataset card" data-testid="dataset">
      <div className="row">
        <label className="inline">
          <input
            type="checkbox"
            checked={d.enabled}
            onChange={(e) => void setOptions(d.id, { enabled: e.target.checked })}
          />{' '}
          <strong>{d.fileName}</strong>
        </label>
        <span className="muted">{(d.bytes.byteLength / 1024).toFixed(1)} KiB</span>
        {d.result && <span>→ {d.result.tasks.map((t) => `${t.name} (${t.examples.length})`).join(', ')}</span>}
        <button type="button" className="secondary" onClick={() => remove(d.id)} aria-label={`Remove ${d.fileName}`}>
          Remove
        </button>
      </div>
      <ErrorBox message={d.error} testId="dataset-error" />
      {d.result && (
        <>
          <Report d={d} />
          <div className="row">
            <label className="inline">
              Duplicates
              <select
                value={d.duplicates}
                onChange={(e) => void setOptions(d.id, { duplicates: e.target.value as 'drop' | 'keep' })}
              >
                <option value="drop">drop</option>
                <option value="keep">keep</option>
              </select>
            </label>
            <label className="inline">
              Too long
              <select
                value={d.lengthPolicy}
                onChange={(e) => void setOptions(d.id, { lengthPolicy: e.target.value as 'truncate' | 'skip' })}
              >
                <option value="truncate">truncate</option>
                <option value="skip">skip</option>
              </select>
            </label>
          </div>
          <MappingEditor d={d} hasChatTemplate={hasChat} />
          <Preview d={d} />
        </>
      )}
    </article>
  );
}

export function TasksPanel() {
  const { datasets, reading, addFiles, addFromUrls } = useTasks();
  const s = useSettings((x) => x.settings);
  const tasks = useMemo(() => activeTasks(datasets), [datasets]);
  const clashes = clashingNames(datasets);
  // The worker splits them with the training's own rule; the table appears with its answer.
  const split = useEngineResult('splitTasks', tasks.length > 0 ? { tasks, settings: s } : null, [tasks, s]);
  const summary = split.value;

  return (
    <section className="card" aria-labelledby="tasks-h">
      <h2 id="tasks-h">2 · Tasks</h2>
      <div className="row">
        <label>
          Add dataset files (JSONL, JSON, CSV, TSV; one file per task, or a file with a task column)
          <input
            type="file"
            multiple
            accept=".jsonl,.json,.csv,.tsv,.txt,.ndjson"
            data-testid="dataset-files"
            onChange={(e) => {
              void addFiles([...(e.target.files ?? [])]);
              e.target.value = '';
            }}
          />
        </label>
      </div>
      <div className="row">
        <button
          type="button"
          className="secondary"
          onClick={() => void addFromUrls(DEMO_SETS.stories)}
          data-testid="add-demo-stories"
        >
          Add the stories demo tasks (for stories260K)
        </button>
        <button type="button" className="secondary" onClick={() => void addFromUrls(DEMO_SETS.instruct)}>
          Add the instruction demo tasks
        </button>
        {reading && <span aria-busy="true">Reading…</span>}
      </div>
      {clashes.length > 0 && (
        <p className="error-box" role="alert">
          Two tasks share the name {clashes.join(', ')}: rename one (task name in its mapping).
        </p>
      )}
      <ErrorBox message={split.error} testId="split-error" />
      {summary && (
        <table className="table" data-testid="task-table">
          <thead>
            <tr>
              <th scope="col">Task</th>
              <th scope="col">Examples</th>
              <th scope="col">Training pool</th>
              <th scope="col">Held out</th>
              <th scope="col">Unused</th>
              <th scope="col">Notes</th>
            </tr>
          </thead>
          <tbody>
            {summary.map((t) => (
              <tr key={t.task}>
                <th scope="row">{t.task}</th>
                <td>{t.examples}</td>
                <td>{t.train}</td>
                <td>{t.eval}</td>
                <td>{t.unused}</td>
                <td>{t.notes.join('; ')}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {datasets.map((d) => (
        <DatasetCard key={d.id} d={d} />
      ))}
    </section>
  );
}
