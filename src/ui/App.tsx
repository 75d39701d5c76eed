// The application shell: the GPU status, the steps (model → tasks → method → train → evaluate → compare →
// playground → export) as keyboard-reachable tabs, a one-click demo, and notices. Saved state (datasets,
// settings, runs) is restored from IndexedDB at start, and the last Hub model is loaded again from the cache.

import { useEffect, useState } from 'react';
import { GpuPanel } from './GpuPanel';
import { ChartWarmup } from './parts/LineChartCard';
import { useGpu } from './gpuStore';
import { ComparePanel } from './panels/ComparePanel';
import { DemoButton } from './panels/DemoButton';
import { EvaluatePanel } from './panels/EvaluatePanel';
import { ExportPanel } from './panels/ExportPanel';
import { MethodPanel } from './panels/MethodPanel';
import { ModelPanel } from './panels/ModelPanel';
import { PlaygroundPanel } from './panels/PlaygroundPanel';
import { TasksPanel } from './panels/TasksPanel';
import { TrainPanel } from './panels/TrainPanel';
import { useModel } from './stores/model';
import { useNotices } from './stores/notices';
import { useRuns } from './stores/runs';
import { useSettings } from './stores/settings';
import { useTasks } from './stores/tasks';
import { useTab, TABS } from './stores/tab';

const PANELS = {
  model: ModelPanel,
  tasks: TasksPanel,
  method: MethodPanel,
  train: TrainPanel,
  evaluate: EvaluatePanel,
  compare: ComparePanel,
  playground: PlaygroundPanel,
  export: ExportPanel,
} as const;

function Notices() {
  const { notices, dismiss } = useNotices();
  if (notices.length === 0) return null;
  return (
    <div className="notices" role="status">
      {notices.map((n) => (
        <p key={n.id} className={n.level === 'error' ? 'error-box' : 'info-box'}>
          {n.text}{' '}
          <button type="button" className="link" onClick={() => dismiss(n.id)} aria-label="Dismiss">
            ×
          </button>
        </p>
      ))}
    </div>
  );
}

export function App() {
  const { tab, setTab } = useTab();
  const gpuStatus = useGpu((s) => s.status);
  const [restored, setRestored] = useState(false);
  useEffect(() => {
    void Promise.all([
      useSettings.getState().restore(),
      useTasks.getState().restore(),
      useRuns.getState().restore(),
    ]).then(() => setRestored(true));
  }, []);
  useEffect(() => {
    if (restored && gpuStatus === 'ready') void useModel.getState().restore();
  }, [restored, gpuStatus]);
  // A newly loaded model re-checks the datasets: lengths in its tokens, its chat template.
  const fingerprint = useModel((s) => s.summary?.fingerprint);
  useEffect(() => {
    if (fingerprint) void useTasks.getState().revalidate();
  }, [fingerprint]);
  const Panel = PANELS[tab];
  const onKey = (e: React.KeyboardEvent) => {
    const i = TABS.findIndex((t) => t.id === tab);
    const next = e.key === 'ArrowRight' ? i + 1 : e.key === 'ArrowLeft' ? i - 1 : null;
    if (next === null) return;
    const t = TABS[(next + TABS.length) % TABS.length];
    setTab(t.id);
    document.getElementById(`tab-${t.id}`)?.focus();
  };

  return (
    <>
      <header className="top">
        <div>
          <h1>MetaLoRA Studio</h1>
          <p className="tagline">
            Fine-tune small LLaMA-family models with MeTA-LoRA, entirely on your GPU. Nothing leaves your machine.
          </p>
        </div>
        <DemoButton />
      </header>
      <main data-restored={restored}>
        <GpuPanel />
        <Notices />
        <nav className="tabs" role="tablist" aria-label="Steps" onKeyDown={onKey}>
          {TABS.map((t) => (
            <button
              key={t.id}
              id={`tab-${t.id}`}
              type="button"
              role="tab"
              aria-selected={tab === t.id}
              aria-controls="panel"
              tabIndex={tab === t.id ? 0 : -1}
              className={tab === t.id ? 'tab active' : 'tab'}
              onClick={() => setTab(t.id)}
              data-testid={`tab-${t.id}`}
            >
              {t.label}
            </button>
          ))}
        </nav>
        <div id="panel" role="tabpanel" aria-labelledby={`tab-${tab}`}>
          <Panel />
        </div>
        {restored && <ChartWarmup />}
      </main>
    </>
  );
}
