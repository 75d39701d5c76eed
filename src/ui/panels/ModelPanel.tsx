// Step 1, the model: a curated preset from the Hugging Face Hub (with download size and GPU memory), any Hub
// repository, or local files; the base quantization; download and load progress; what got loaded.

import { useState } from 'react';
import { parameterCount } from '../../model/config';
import { PRESETS } from '../../model/presets';
import type { BaseQuant } from '../../model/weights';
import { useGpu } from '../gpuStore';
import { ErrorBox, fmtBytes, fmtCount, Progress } from '../parts/common';
import { useModel } from '../stores/model';
import { useEngineResult } from '../useEngineResult';

const QUANTS: { id: BaseQuant; label: string }[] = [
  { id: 'keep', label: 'as stored (F32, F16 and BF16 kept)' },
  { id: 'q8_0', label: 'Q8_0 (8-bit, about ¼ of F32)' },
  { id: 'q4_0', label: 'Q4_0 (4-bit, about ⅛ of F32)' },
];

export function ModelPanel() {
  const { status, summary, progress, error, quant, setQuant, load } = useModel();
  const limits = useGpu((s) => s.info?.limits);
  const [preset, setPreset] = useState(PRESETS[0].id);
  const [repo, setRepo] = useState('');
  const [files, setFiles] = useState<File[]>([]);
  const loading = status === 'loading';
  const chosen = PRESETS.find((p) => p.id === preset)!;
  // Computed in the worker: the memory plan is engine code, kept off the page.
  const sizes = useEngineResult('presetSizes', { presetId: preset, quant }, [preset, quant]).value;
  const tooBig = limits && sizes && sizes.gpu.largestBuffer.bytes > limits.maxStorageBufferBindingSize;

  return (
    <section className="card" aria-labelledby="model-h">
      <h2 id="model-h">1 · Model</h2>
      <div className="grid2">
        <fieldset>
          <legend>From the Hugging Face Hub</legend>
          <label>
            Preset
            <select value={preset} onChange={(e) => setPreset(e.target.value)} data-testid="preset-select">
              {PRESETS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
            </select>
          </label>
          <p className="muted">
            {chosen.repo} · {fmtCount(parameterCount(chosen.config))} parameters
            {sizes && (
              <>
                {' '}
                · download {fmtBytes(sizes.downloadBytes)} · GPU about {fmtBytes(sizes.gpu.total)}
              </>
            )}
            {chosen.chat ? ' · chat template' : ''}
          </p>
          {tooBig && (
            <p className="warn">
              This GPU binds at most {fmtBytes(limits!.maxStorageBufferBindingSize)} per buffer; this model needs{' '}
              {fmtBytes(sizes!.gpu.largestBuffer.bytes)} ({sizes!.gpu.largestBuffer.name}). Try Q4_0 or a smaller model.
            </p>
          )}
          <button
            type="button"
            disabled={loading}
            onClick={() => void load({ kind: 'preset', presetId: preset })}
            data-testid="load-preset"
          >
            Load preset
          </button>
          <label>
            Any repository
            <input
              value={repo}
              onChange={(e) => setRepo(e.target.value)}
              placeholder="owner/name, e.g. HuggingFaceTB/SmolLM2-135M"
            />
          </label>
          <button type="button" disabled={loading || !repo.trim()} onClick={() => void load({ kind: 'hub', repo })}>
            Load repository
          </button>
        </fieldset>
        <fieldset>
          <legend>From this computer</legend>
          <label>
            Model files
            <input
              type="file"
              multiple
              accept=".gguf,.bin,.safetensors,.json,.model,.jinja"
              data-testid="model-files"
              onChange={(e) => setFiles([...(e.target.files ?? [])])}
            />
          </label>
          <p className="muted">
            One .gguf; or a llama2.c .bin with its tokenizer .bin; or config.json + .safetensors + tokenizer.json.
          </p>
          <button
            type="button"
            disabled={loading || files.length === 0}
            onClick={() => void load({ kind: 'files', files })}
          >
            Load files
          </button>
          <label>
            Base weights on the GPU
            <select value={quant} onChange={(e) => setQuant(e.target.value as BaseQuant)} data-testid="quant-select">
              {QUANTS.map((q) => (
                <option key={q.id} value={q.id}>
                  {q.label}
                </option>
              ))}
            </select>
          </label>
        </fieldset>
      </div>
      {progress && (
        <Progress
          testId="model-progress"
          done={progress.done}
          total={progress.total}
          label={`${progress.phase === 'download' ? 'Downloading' : 'Loading to the GPU'} ${progress.label}: ${fmtBytes(progress.done)}${progress.total ? ` of ${fmtBytes(progress.total)}` : ''}`}
        />
      )}
      {loading && !progress && <p aria-busy="true">Reading the model…</p>}
      <ErrorBox message={error} testId="model-error" />
      {summary && status === 'ready' && (
        <p className="ok" data-testid="model-ready">
          Loaded <strong>{summary.label}</strong> ({summary.format}): {fmtCount(summary.parameters)} parameters,{' '}
          {summary.config.nLayers} layers, dim {summary.config.dim}, vocabulary {summary.config.vocabSize}, context{' '}
          {summary.config.contextLength}; {fmtBytes(summary.weightBytes)} on the GPU (
          {summary.quant === 'keep' ? 'as stored' : summary.quant.toUpperCase()})
          {summary.hasChatTemplate ? '; has a chat template' : ''}.
        </p>
      )}
    </section>
  );
}
