// Step 8, export: the run's adapter as a PEFT adapter (zip), a GGUF LoRA for llama.cpp, merged into the
// base as Hugging Face safetensors or GGUF, or the whole run as a PyTorch recipe (train.py + data + schedule +
// base, to scale out with torchrun); every export carries the training report (settings, data counts, curves as
// JSON and CSV). The work happens in the worker; the page only saves the bytes it gets back.

import { useState } from 'react';
import { getEngine } from '../engineClient';
import { ErrorBox, fmtBytes } from '../parts/common';
import { useModel } from '../stores/model';
import { isActive, loadRunTasks, useRuns } from '../stores/runs';
import type { ExportFormat, ExportOutcome, ExportRequest } from '../../worker/protocol';

const FORMATS: { id: ExportFormat; label: string; line: string }[] = [
  {
    id: 'peft',
    label: 'PEFT adapter (zip)',
    line: 'adapter_model.safetensors + adapter_config.json: load with PeftModel.from_pretrained. MTL-LoRA: one plain LoRA per task.',
  },
  {
    id: 'gguf',
    label: 'GGUF LoRA for llama.cpp',
    line: "Apply with llama-cli --lora adapter.gguf on the base GGUF (Q/K rows in llama.cpp's order).",
  },
  {
    id: 'merged-safetensors',
    label: 'Merged model, safetensors',
    line: 'W + (α/r)·B·A as a Hugging Face folder with config.json and the tokenizer files.',
  },
  {
    id: 'merged-gguf',
    label: 'Merged model, GGUF',
    line: "The merged model as one GGUF (F16 or Q8_0) with the base's tokenizer and metadata.",
  },
  {
    id: 'pytorch',
    label: 'PyTorch recipe (scale out)',
    line: 'train.py reproduces this run in PyTorch (python train.py, or torchrun on N GPUs) and continues it on a bigger model; its output folder imports back into Compare.',
  },
];

const DTYPES: Record<'merged-safetensors' | 'merged-gguf', ExportRequest['dtype'][]> = {
  'merged-safetensors': ['F16', 'BF16', 'F32'],
  'merged-gguf': ['F16', 'Q8_0', 'F32'],
};

/** Saves bytes as a file through a temporary object URL. */
function save(name: string, bytes: Uint8Array) {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function ExportPanel() {
  const runs = useRuns((s) => s.runs).filter((r) => r.iteration > 0);
  const model = useModel((s) => s.summary);
  const [runId, setRunId] = useState('');
  const [format, setFormat] = useState<ExportFormat>('peft');
  const [dtype, setDtype] = useState<ExportRequest['dtype']>(undefined);
  const [task, setTask] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [result, setResult] = useState<ExportOutcome | null>(null);
  const run = runs.find((r) => r.id === runId) ?? runs.at(-1);
  const merged = format === 'merged-gguf' || format === 'merged-safetensors';
  const mtl = run?.settings.method === 'mtl-lora' && format !== 'pytorch';

  const go = async () => {
    if (!run) return;
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      // The recipe holds the training data: the run's own task snapshot, as it trained on it.
      const tasks = format === 'pytorch' ? await loadRunTasks(run.id) : undefined;
      if (format === 'pytorch' && !tasks)
        throw new Error("This run's task snapshot is missing from storage, so its data cannot be exported.");
      const out = await getEngine().request('export', {
        spec: {
          runId: run.id,
          format,
          dtype: merged ? dtype : undefined,
          task: mtl && task ? task : undefined,
          metrics: run.metrics,
          dataCounts: run.counts,
          tasks,
        },
      });
      setResult(out);
      save(out.downloads[0].name, out.downloads[0].bytes);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (!run)
    return (
      <section className="card">
        <h2>8 · Export</h2>
        <p className="muted">Train a run first.</p>
      </section>
    );
  return (
    <section className="card" aria-labelledby="export-h">
      <h2 id="export-h">8 · Export</h2>
      <label>
        Run
        <select value={run.id} onChange={(e) => setRunId(e.target.value)}>
          {runs.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name} ({r.status}, {r.iteration} it.)
            </option>
          ))}
        </select>
      </label>
      <fieldset>
        <legend>Format</legend>
        {FORMATS.map((f) => (
          <label key={f.id} className="method">
            <input
              type="radio"
              name="format"
              checked={format === f.id}
              onChange={() => {
                setFormat(f.id);
                setDtype(undefined);
              }}
              data-testid={`export-${f.id}`}
            />
            <strong>{f.label}</strong>
            <small>{f.line}</small>
          </label>
        ))}
      </fieldset>
      {merged && (
        <label className="inline">
          Precision
          <select
            value={dtype ?? ''}
            onChange={(e) => setDtype((e.target.value || undefined) as ExportRequest['dtype'])}
          >
            <option value="">default for this base</option>
            {DTYPES[format].map((d) => (
              <option key={d}>{d}</option>
            ))}
          </select>
        </label>
      )}
      {mtl && (
        <label className="inline">
          Task
          <select value={task} onChange={(e) => setTask(e.target.value)}>
            <option value="">{merged ? 'choose a task' : 'every task'}</option>
            {run.tasks.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
      )}
      {merged && model?.storedQuantized && (
        <p className="warn">
          This base stores quantized weights: the merge dequantizes them, adds the adapter in float64 and re-encodes
          them ({format === 'merged-gguf' ? 'Q8_0 by default' : 'F16 by default'}), so the merged model keeps the base's
          quantization error.
        </p>
      )}
      {merged && model && model.quant !== 'keep' && (
        <p className="warn">
          Training ran on the base quantized on load to {model.quant.toUpperCase()}; the merge adds the adapter to the
          weights as stored in the file.
        </p>
      )}
      <div className="row">
        <button
          type="button"
          disabled={busy || !model || isActive(run) || (merged && mtl && !task)}
          onClick={() => void go()}
          data-testid="export-go"
        >
          {busy ? 'Exporting…' : 'Export'}
        </button>
        {!model && (
          <span className="muted">Load the base model first: exports read its shapes (and, merged, its weights).</span>
        )}
        {isActive(run) && <span className="muted">Pause or finish training first.</span>}
      </div>
      <ErrorBox message={error} testId="export-error" />
      {result && (
        <div data-testid="export-result">
          <p className="ok">Exported {result.files.length} files:</p>
          <ul>
            {result.files.map((f) => (
              <li key={f.name}>
                <code>{f.name}</code> {fmtBytes(f.bytes)}
              </li>
            ))}
          </ul>
          {result.notes.map((n) => (
            <p key={n} className="warn">
              {n}
            </p>
          ))}
          <div className="row">
            {result.downloads.map((d) => (
              <button
                key={d.name}
                type="button"
                className="secondary"
                onClick={() => save(d.name, d.bytes)}
                data-testid={`download-${d.name}`}
              >
                Download {d.name} ({fmtBytes(d.bytes.byteLength)})
              </button>
            ))}
          </div>
        </div>
      )}
    </section>
  );
}
