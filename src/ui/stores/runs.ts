// Training runs as the page keeps them: settings, the task snapshot they trained on, the model they ran on,
// status, every metrics row, and evaluations before and after. Runs persist in IndexedDB, so a reload shows
// every curve again; a run that was training when the page went away comes back "interrupted" and resumes
// from its last checkpoint (which the worker keeps in IndexedDB too).

import { create } from 'zustand';
import type { TaskResult } from '../../train/evaluateTasks';
import type { MetricsRecord } from '../../train/metrics';
import type { TrainSettings } from '../../train/settings';
import { splitTask } from '../../data/tasks';
import type { EngineEvent, TaskInput } from '../../worker/protocol';
import { getEngine } from '../engineClient';
import { useModel } from './model';
import { deleteValue, loadValue, newId, saveValue, throttled } from './persist';

export type RunStatus = 'starting' | 'running' | 'paused' | 'stopped' | 'done' | 'failed' | 'interrupted';

export interface RunRecord {
  id: string;
  name: string;
  createdAt: number;
  settings: TrainSettings;
  tasks: string[];
  /** Training pool and held-out sizes per task, as split by the run's seed. */
  counts: Record<string, { train: number; eval: number }>;
  model: { label: string; fingerprint: string };
  status: RunStatus;
  iteration: number;
  metrics: MetricsRecord[];
  error: string | null;
  /** Held-out evaluation of the base model and of the trained adapter (as it is and after test-time adaptation). */
  evals: { base?: TaskResult[]; trained?: TaskResult[] };
  /** Peak GPU bytes in use seen during training. */
  gpuBytes: number;
}

/** Live figures that are not worth persisting: seconds per iteration (for the ETA). */
interface Pace {
  lastAt: number;
  secondsPerIteration: number | null;
}

interface RunsState {
  runs: RunRecord[];
  selected: string | null;
  pace: Record<string, Pace>;
  busy: Record<string, string>;
  start(tasks: TaskInput[], settings: TrainSettings, name?: string): Promise<string | null>;
  pause(id: string): Promise<void>;
  resume(id: string): Promise<void>;
  stop(id: string): Promise<void>;
  evaluate(id: string): Promise<void>;
  remove(id: string): Promise<void>;
  rename(id: string, name: string): void;
  select(id: string | null): void;
  restore(): Promise<void>;
}

const ACTIVE: readonly RunStatus[] = ['starting', 'running', 'paused'];
const tasksKey = (id: string) => `run-tasks/${id}`;

export const isActive = (r: RunRecord) => ACTIVE.includes(r.status);

/** The tasks (examples) run `id` trained on, as stored with it. */
export const loadRunTasks = (id: string) => loadValue<TaskInput[]>(tasksKey(id));

export const useRuns = create<RunsState>((set, get) => {
  const patch = (id: string, change: Partial<RunRecord> | ((r: RunRecord) => Partial<RunRecord>)) => {
    set((s) => ({ runs: s.runs.map((r) => (r.id === id ? { ...r, ...(typeof change === 'function' ? change(r) : change) } : r)) }));
    persistSoon();
  };
  const persistNow = () => void saveValue('runs', get().runs);
  const persistSoon = throttled(persistNow, 1500);
  const setBusy = (id: string, what: string | null) => set((s) => {
    const busy = { ...s.busy };
    if (what) busy[id] = what;
    else delete busy[id];
    return { busy };
  });

  /** Runs the engine's training of `run` to its end (or stop), keeping the record's status in step. */
  const train = async (run: RunRecord, tasks: TaskInput[], resume: boolean) => {
    // A resumed run replays its checkpoint's rows (a 'restored' metrics event); rows after it are trained again.
    const before = run.metrics;
    patch(run.id, { status: 'starting', error: null, ...(resume ? { metrics: [] } : {}) });
    persistNow();
    try {
      const out = await getEngine().request('train', { spec: { runId: run.id, settings: run.settings, tasks, resume } });
      patch(run.id, { status: out.status, iteration: out.iteration });
    } catch (e) {
      const err = e as Error;
      patch(run.id, (r) => ({
        status: err.name === 'DeviceLostError' ? 'interrupted' : 'failed', error: err.message,
        metrics: r.metrics.length > 0 ? r.metrics : before,
      }));
    }
    persistNow();
  };

  const onEvent = (e: EngineEvent) => {
    if (e.kind === 'metrics') {
      const rows = e.rows;
      const last = Math.max(0, ...rows.map((r) => r.iteration));
      patch(e.runId, (r) => ({
        // Restored rows replace what the page had: anything after the checkpoint is trained again.
        metrics: e.restored ? rows : [...r.metrics, ...rows],
        iteration: Math.max(e.restored ? 0 : r.iteration, last),
        gpuBytes: Math.max(r.gpuBytes, e.gpuBytes),
      }));
      if (!e.restored) {
        const now = performance.now();
        set((s) => {
          const p = s.pace[e.runId];
          const dt = p ? (now - p.lastAt) / 1000 : null;
          const spi = dt === null ? null : p!.secondsPerIteration === null ? dt : 0.8 * p!.secondsPerIteration + 0.2 * dt;
          return { pace: { ...s.pace, [e.runId]: { lastAt: now, secondsPerIteration: spi } } };
        });
      }
    } else if (e.kind === 'runState') {
      patch(e.runId, { status: e.state });
      if (e.state === 'running') set((s) => ({ pace: { ...s.pace, [e.runId]: { lastAt: performance.now(), secondsPerIteration: s.pace[e.runId]?.secondsPerIteration ?? null } } }));
    } else if (e.kind === 'deviceLost') {
      useModel.getState().lost(e.message);
    }
  };
  getEngine().subscribe(onEvent);

  return {
    runs: [],
    selected: null,
    pace: {},
    busy: {},

    async start(tasks, settings, name) {
      const model = useModel.getState().summary;
      if (!model) return null;
      const counts = Object.fromEntries(tasks.map((t) => {
        const split = splitTask(t, { poolSize: settings.examplesPerTask, evalMax: settings.evalExamplesPerTask, seed: settings.seed });
        return [t.name, { train: split.train.length, eval: split.eval.length }];
      }));
      const run: RunRecord = {
        id: newId('run'), name: name ?? `${settings.method} · ${tasks.length} tasks · seed ${settings.seed}`, createdAt: Date.now(),
        settings, tasks: tasks.map((t) => t.name), counts, model: { label: model.label, fingerprint: model.fingerprint },
        status: 'starting', iteration: 0, metrics: [], error: null, evals: {}, gpuBytes: 0,
      };
      set((s) => ({ runs: [...s.runs, run], selected: run.id }));
      persistNow();
      if (!(await saveValue(tasksKey(run.id), tasks))) {
        patch(run.id, { status: 'failed', error: 'The run\'s tasks could not be saved, so it could not be resumed: free storage first.' });
        return run.id;
      }
      void train(run, tasks, false);
      return run.id;
    },

    async pause(id) {
      await getEngine().request('control', { runId: id, action: 'pause' });
    },

    async resume(id) {
      const run = get().runs.find((r) => r.id === id);
      if (!run) return;
      if (run.status === 'paused') {
        await getEngine().request('control', { runId: id, action: 'resume' });
        return;
      }
      const model = useModel.getState().summary;
      if (!model) {
        patch(id, { error: 'Load the model this run trained on first.' });
        return;
      }
      if (model.fingerprint !== run.model.fingerprint) {
        patch(id, { error: `This run trained on ${run.model.label}; load that model to resume it.` });
        return;
      }
      const tasks = await loadValue<TaskInput[]>(tasksKey(id));
      if (!tasks) {
        patch(id, { status: 'failed', error: 'The run\'s task snapshot is missing from storage; it cannot resume.' });
        return;
      }
      await train(run, tasks, true);
    },

    async stop(id) {
      await getEngine().request('control', { runId: id, action: 'stop' });
    },

    async evaluate(id) {
      const run = get().runs.find((r) => r.id === id);
      const tasks = run && (await loadValue<TaskInput[]>(tasksKey(id)));
      if (!run || !tasks) return;
      setBusy(id, 'evaluating');
      try {
        const spec = { settings: run.settings, tasks, accuracy: true, adapt: true };
        const base = run.evals.base ?? await getEngine().request('evaluate', { spec: { ...spec, runId: null } });
        patch(id, (r) => ({ evals: { ...r.evals, base } }));
        const trained = await getEngine().request('evaluate', { spec: { ...spec, runId: id } });
        patch(id, (r) => ({ evals: { ...r.evals, trained }, error: null }));
      } catch (e) {
        patch(id, { error: `Evaluation failed: ${(e as Error).message}` });
      } finally {
        setBusy(id, null);
        persistNow();
      }
    },

    async remove(id) {
      const run = get().runs.find((r) => r.id === id);
      if (!run || isActive(run)) return;
      await getEngine().request('deleteRun', { runId: id }).catch(() => undefined);
      await deleteValue(tasksKey(id));
      set((s) => ({ runs: s.runs.filter((r) => r.id !== id), selected: s.selected === id ? null : s.selected }));
      persistNow();
    },

    rename(id, name) {
      patch(id, { name });
    },

    select(id) {
      set({ selected: id });
    },

    async restore() {
      const saved = await loadValue<RunRecord[]>('runs');
      if (!saved) return;
      // Nothing trains in a fresh worker: a run that was active when the page went away is interrupted.
      const runs = saved.map((r) => ({
        ...r,
        status: ACTIVE.includes(r.status) ? 'interrupted' as const : r.status,
        // Evaluations stored before they had a shared/adapted split are dropped: evaluate again.
        evals: (r.evals.trained ?? r.evals.base ?? []).every((e) => 'shared' in e) ? r.evals : {},
      }));
      set({ runs, selected: runs.at(-1)?.id ?? null });
    },
  };
});
