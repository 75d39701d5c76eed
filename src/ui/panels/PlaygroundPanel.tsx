// Step 7, the playground: the same prompt continued by the base model and with a run's adapter, side by side
// and streamed as it is generated (per task for MTL-LoRA, whose adapter depends on the task). Greedy at
// temperature 0; when sampling, both sides share one seed so the difference is the adapter's. Sampling values
// are not clamped while typing (that would fight partial input such as "0."): the sampler rejects bad ones
// with a message shown in the error box. "Adapt to" first adapts a copy of the adapter to a task — the run's inner
// steps on k of its training examples (test-time adaptation) — including a task the run never trained on.

import { useState } from 'react';
import { getEngine } from '../engineClient';
import { ErrorBox } from '../parts/common';
import { useModel } from '../stores/model';
import { isActive, loadRunTasks, useRuns } from '../stores/runs';
import { activeTasks, useTasks } from '../stores/tasks';

interface Output {
  text: string;
  note: string;
}

export function PlaygroundPanel() {
  const runs = useRuns((s) => s.runs).filter((r) => r.iteration > 0);
  const model = useModel((s) => s.summary);
  const [prompt, setPrompt] = useState('Once upon a time');
  const [maxNew, setMaxNew] = useState(32);
  const [temperature, setTemperature] = useState(0);
  const [topP, setTopP] = useState(0.95);
  const [runId, setRunId] = useState<string>('');
  const [task, setTask] = useState(0);
  const [adaptName, setAdaptName] = useState('');
  const datasets = useTasks((s) => s.datasets);
  const [out, setOut] = useState<{ base?: Output; tuned?: Output }>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = runs.find((r) => r.id === runId) ?? runs.at(-1);

  const generate = async () => {
    setBusy(true);
    setError(null);
    setOut({});
    const engine = getEngine();
    const sampling = temperature > 0 ? { temperature, topP, seed: freshSeed() } : {};
    const how = 'seed' in sampling ? `, seed ${sampling.seed}` : '';
    try {
      const candidates = [...(run ? ((await loadRunTasks(run.id)) ?? []) : []), ...activeTasks(datasets)];
      const adaptTo = adaptName ? candidates.find((t) => t.name === adaptName) : undefined;
      if (adaptName && !adaptTo) throw new Error(`The examples of task ${adaptName} are not available any more.`);
      for (const which of ['base', 'tuned'] as const) {
        if (which === 'tuned' && !run) break;
        let id = -1;
        const off = engine.subscribe((e) => {
          if (e.kind === 'text' && e.requestId === id) setOut((o) => ({ ...o, [which]: { text: e.text, note: '…' } }));
        });
        try {
          const res = await engine.request(
            'generate',
            {
              spec: {
                runId: which === 'base' ? null : run!.id,
                task,
                prompt,
                maxNewTokens: maxNew,
                ...sampling,
                ...(which === 'tuned' && adaptTo ? { adaptTo } : {}),
              },
            },
            (i) => {
              id = i;
            },
          );
          setOut((o) => ({
            ...o,
            [which]: { text: res.text, note: `${res.tokens} tokens in ${(res.ms / 1000).toFixed(1)} s${how}` },
          }));
        } finally {
          off();
        }
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" aria-labelledby="play-h">
      <h2 id="play-h">7 · Playground</h2>
      <label>
        Prompt
        <textarea value={prompt} onChange={(e) => setPrompt(e.target.value)} rows={3} data-testid="play-prompt" />
      </label>
      <div className="row">
        <label className="inline">
          New tokens{' '}
          <input
            type="number"
            min={1}
            max={512}
            value={maxNew}
            onChange={(e) => setMaxNew(Math.max(1, Number(e.target.value) || 1))}
            data-testid="play-max-new"
          />
        </label>
        <label className="inline" title="0 picks the most likely token (greedy)">
          Temperature (0 = greedy){' '}
          <input
            type="number"
            min={0}
            max={2}
            step={0.1}
            value={temperature}
            onChange={(e) => setTemperature(Number(e.target.value))}
            data-testid="play-temperature"
          />
        </label>
        <label className="inline" title="Sample from the most likely tokens covering this probability">
          Top-p{' '}
          <input
            type="number"
            min={0.05}
            max={1}
            step={0.05}
            value={topP}
            disabled={temperature === 0}
            onChange={(e) => setTopP(Number(e.target.value))}
            data-testid="play-top-p"
          />
        </label>
        {runs.length > 0 && (
          <label className="inline">
            Adapter
            <select value={run?.id} onChange={(e) => setRunId(e.target.value)}>
              {runs.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {run?.settings.method === 'mtl-lora' && (
          <label className="inline">
            Task
            <select value={task} onChange={(e) => setTask(Number(e.target.value))}>
              {run.tasks.map((t, i) => (
                <option key={t} value={i}>
                  {t}
                </option>
              ))}
            </select>
          </label>
        )}
        {run && (
          <label
            className="inline"
            title="Adapt a copy of the adapter to this task first: the run's inner steps on a few of its examples"
          >
            Adapt to
            <select value={adaptName} onChange={(e) => setAdaptName(e.target.value)} data-testid="play-adapt">
              <option value="">no adaptation</option>
              {[...new Set([...run.tasks, ...activeTasks(datasets).map((t) => t.name)])].map((t) => (
                <option key={t} value={t}>
                  {t}
                  {run.tasks.includes(t) ? '' : ' (not trained on)'}
                </option>
              ))}
            </select>
          </label>
        )}
        <button
          type="button"
          disabled={busy || !model || !prompt || (run && isActive(run) && run.status !== 'paused')}
          onClick={() => void generate()}
          data-testid="play-generate"
        >
          {busy ? 'Generating…' : 'Generate'}
        </button>
      </div>
      {!model && <p className="muted">Load a model first.</p>}
      <ErrorBox message={error} />
      <div className="grid2">
        <figure className="output">
          <figcaption>Base model</figcaption>
          <p data-testid="play-base">
            <span className="muted">{prompt}</span>
            {out.base?.text}
          </p>
          <small>{out.base?.note}</small>
        </figure>
        <figure className="output">
          <figcaption>
            With adapter{run ? ` (${run.name}${adaptName ? `, adapted to ${adaptName}` : ''})` : ''}
          </figcaption>
          <p data-testid="play-tuned">
            <span className="muted">{prompt}</span>
            {out.tuned?.text}
          </p>
          <small>{out.tuned?.note ?? (run ? '' : 'Train a run to compare.')}</small>
        </figure>
      </div>
    </section>
  );
}

/** A new sampling seed per click (shown with the output, so a sample can be repeated). */
function freshSeed(): number {
  return (Math.random() * 2 ** 32) >>> 0;
}
