// Training runs as the page keeps them: settings, the task snapshot they trained on, the model they ran on,
// status, every metrics row, and evaluations before and after. Runs persist in IndexedDB, so a reload shows
// every curve again; a run that was training when the page went away comes back "interrupted" and resumes
// from its last checkpoint (which the worker keeps in IndexedDB too).

import { type StoreApi, create } from 'zustand';
import type { TaskResult } from '../../train/evaluateTasks';
import type { MetricsRecord } from '../../train/metrics';
import type { TrainSettings } from '../../train/settings';
import type { EngineEvent, TaskInput } from '../../worker/protocol';
import { getEngine } from '../engineClient';
import type { ImportedRun } from '../parts/importedRun';
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
  /** Adds a run trained elsewhere (the PyTorch recipe, the CLI) for Compare; it has no checkpoint here. */
  importRun(run: ImportedRun): string;
}

const ACTIVE: readonly RunStatus[] = ['starting', 'running', 'paused'];
const tasksKey = (id: string) => `run-tasks/${id}`;

export const isActive = (r: RunRecord) => ACTIVE.includes(r.status);

/** The tasks (examples) run `id` trained on, as stored with it. */
export const loadRunTasks = (id: string) => loadValue<TaskInput[]>(tasksKey(id));

type SetRuns = StoreApi<RunsState>['setState'];
type GetRuns = StoreApi<RunsState>['getState'];

/** Writing run records: a patch persists soon after, `persistNow` at once (status changes must not be lost). */
interface Records {
  patch(id: string, change: Partial<RunRecord> | ((r: RunRecord) => Partial<RunRecord>)): void;
  persistNow(): void;
  setBusy(id: string, what: string | null): void;
}

function records(set: SetRuns, get: GetRuns): Records {
  const persistNow = () => void saveValue('runs', get().runs);
  const persistSoon = throttled(persistNow, 1500);
  return {
    persistNow,
    patch(id, change) {
      set((s) => ({
        runs: s.runs.map((r) => (r.id === id ? { ...r, ...(typeof change === 'function' ? change(r) : change) } : r)),
      }));
      persistSoon();
    },
    setBusy: (id, what) =>
      set((s) => {
        const busy = { ...s.busy };
        if (what) busy[id] = what;
        else delete busy[id];
        return { busy };
      }),
  };
}

/** Runs the engine's training of `run` to its end (or stop), keeping the record's status in step. */
async function trainRun(rec: Records, run: RunRecord, tasks: TaskInput[], resume: boolean): Promise<void> {
  // A resumed run replays its checkpoint's rows (a 'restored' metrics event); rows after it are trained again.
  const before = run.metrics;
  rec.patch(run.id, { status: 'starting', error: null, ...(resume ? { metrics: [] } : {}) });
  rec.persistNow();
  try {
    const out = await getEngine().request('train', { spec: { runId: run.id, settings: run.settings, tasks, resume } });
    rec.patch(run.id, { status: out.status, iteration: out.iteration });
  } catch (e) {
    const err = e as Error;
    rec.patch(run.id, (r) => ({
      status: err.name === 'DeviceLostError' ? 'interrupted' : 'failed',
      error: err.message,
      metrics: r.metrics.length > 0 ? r.metrics : before,
    }));
  }
  rec.persistNow();
}

/** Seconds per iteration, smoothed over iterations (for the ETA); the first interval starts the average. */
function nextPace(p: Pace | undefined, now: number): Pace {
  const dt = p ? (now - p.lastAt) / 1000 : null;
  const spi = dt === null ? null : p!.secondsPerIteration === null ? dt : 0.8 * p!.secondsPerIteration + 0.2 * dt;
  return { lastAt: now, secondsPerIteration: spi };
}

/** Keeps the records in step with the engine's events: metrics rows, run states, a lost device. */
function engineEvents(set: SetRuns, rec: Records): (e: EngineEvent) => void {
  return (e) => {
    if (e.kind === 'metrics') {
      const last = Math.max(0, ...e.rows.map((r) => r.iteration));
      rec.patch(e.runId, (r) => ({
        // Restored rows replace what the page had: anything after the checkpoint is trained again.
        metrics: e.restored ? e.rows : [...r.metrics, ...e.rows],
        iteration: Math.max(e.restored ? 0 : r.iteration, last),
        gpuBytes: Math.max(r.gpuBytes, e.gpuBytes),
      }));
      if (!e.restored) set((s) => ({ pace: { ...s.pace, [e.runId]: nextPace(s.pace[e.runId], performance.now()) } }));
    } else if (e.kind === 'runState') {
      rec.patch(e.runId, { status: e.state });
      // A (re)start opens a new interval without counting the pause in it.
      if (e.state === 'running')
        set((s) => ({
          pace: {
            ...s.pace,
            [e.runId]: { lastAt: performance.now(), secondsPerIteration: s.pace[e.runId]?.secondsPerIteration ?? null },
          },
        }));
    } else if (e.kind === 'deviceLost') {
      useModel.getState().lost(e.message);
    }
  };
}

/** A new run's record; the engine splits the tasks by the run's settings for its pool and held-out counts. */
async function newRun(
  tasks: TaskInput[],
  settings: TrainSettings,
  name: string | undefined,
  model: { label: string; fingerprint: string },
): Promise<RunRecord> {
  const summary = await getEngine().request('splitTasks', { tasks, settings });
  const counts = Object.fromEntries(summary.map((t) => [t.task, { train: t.train, eval: t.eval }]));
  return {
    id: newId('run'),
    name: name ?? `${settings.method} · ${tasks.length} tasks · seed ${settings.seed}`,
    createdAt: Date.now(),
    settings,
    tasks: tasks.map((t) => t.name),
    counts,
    model: { label: model.label, fingerprint: model.fingerprint },
    status: 'starting',
    iteration: 0,
    metrics: [],
    error: null,
    evals: {},
    gpuBytes: 0,
  };
}

/** Why run `run` cannot resume on the loaded model, or null when it can. */
function resumeBlocker(run: RunRecord): string | null {
  const model = useModel.getState().summary;
  if (!model) return 'Load the model this run trained on first.';
  if (model.fingerprint !== run.model.fingerprint)
    return `This run trained on ${run.model.label}; load that model to resume it.`;
  return null;
}

/** Base and trained evaluations of a run on its tasks (the base one is computed once and kept). */
async function evaluateRun(rec: Records, run: RunRecord, tasks: TaskInput[]): Promise<void> {
  const spec = { settings: run.settings, tasks, accuracy: true, adapt: true };
  const base = run.evals.base ?? (await getEngine().request('evaluate', { spec: { ...spec, runId: null } }));
  rec.patch(run.id, (r) => ({ evals: { ...r.evals, base } }));
  const trained = await getEngine().request('evaluate', { spec: { ...spec, runId: run.id } });
  rec.patch(run.id, (r) => ({ evals: { ...r.evals, trained }, error: null }));
}

/** Saved records as a fresh page sees them: nothing trains in a new worker, so active runs are interrupted. */
function restoredRuns(saved: RunRecord[]): RunRecord[] {
  return saved.map((r) => ({
    ...r,
    status: ACTIVE.includes(r.status) ? ('interrupted' as const) : r.status,
    // Evaluations stored before they had a shared/adapted split are dropped: evaluate again.
    evals: (r.evals.trained ?? r.evals.base ?? []).every((e) => 'shared' in e) ? r.evals : {},
  }));
}

export const useRuns = create<RunsState>((set, get) => {
  const rec = records(set, get);
  const find = (id: string) => get().runs.find((r) => r.id === id);
  getEngine().subscribe(engineEvents(set, rec));

  return {
    runs: [],
    selected: null,
    pace: {},
    busy: {},

    async start(tasks, settings, name) {
      const model = useModel.getState().summary;
      if (!model) return null;
      const run = await newRun(tasks, settings, name, model);
      set((s) => ({ runs: [...s.runs, run], selected: run.id }));
      rec.persistNow();
      if (!(await saveValue(tasksKey(run.id), tasks))) {
        rec.patch(run.id, {
          status: 'failed',
          error: "The run's tasks could not be saved, so it could not be resumed: free storage first.",
        });
        return run.id;
      }
      void trainRun(rec, run, tasks, false);
      return run.id;
    },

    async pause(id) {
      await getEngine().request('control', { runId: id, action: 'pause' });
    },

    async resume(id) {
      const run = find(id);
      if (!run) return;
      if (run.status === 'paused') {
        await getEngine().request('control', { runId: id, action: 'resume' });
        return;
      }
      const blocker = resumeBlocker(run);
      if (blocker) {
        rec.patch(id, { error: blocker });
        return;
      }
      const tasks = await loadRunTasks(id);
      if (!tasks) {
        rec.patch(id, {
          status: 'failed',
          error: "The run's task snapshot is missing from storage; it cannot resume.",
        });
        return;
      }
      await trainRun(rec, run, tasks, true);
    },

    async stop(id) {
      await getEngine().request('control', { runId: id, action: 'stop' });
    },

    async evaluate(id) {
      const run = find(id);
      const tasks = run && (await loadRunTasks(id));
      if (!run || !tasks) return;
      rec.setBusy(id, 'evaluating');
      try {
        await evaluateRun(rec, run, tasks);
      } catch (e) {
        rec.patch(id, { error: `Evaluation failed: ${(e as Error).message}` });
      } finally {
        rec.setBusy(id, null);
        rec.persistNow();
      }
    },

    async remove(id) {
      const run = find(id);
      if (!run || isActive(run)) return;
      await getEngine()
        .request('deleteRun', { runId: id })
        .catch(() => undefined);
      await deleteValue(tasksKey(id));
      set((s) => ({ runs: s.runs.filter((r) => r.id !== id), selected: s.selected === id ? null : s.selected }));
      rec.persistNow();
    },

    rename(id, name) {
      rec.patch(id, { name });
    },

    select(id) {
      set({ selected: id });
    },

    importRun(imported) {
      const run: RunRecord = {
        id: newId('run'),
        name: imported.name,
        createdAt: Date.now(),
        settings: imported.settings,
        tasks: imported.tasks,
        counts: imported.counts,
        model: { label: imported.baseLabel, fingerprint: 'imported' },
        status: 'done',
        iteration: imported.iteration,
        metrics: imported.metrics,
        error: null,
        evals: {},
        gpuBytes: 0,
      };
      set((s) => ({ runs: [...s.runs, run] }));
      rec.persistNow();
      return run.id;
    },

    async restore() {
      const saved = await loadValue<RunRecord[]>('runs');
      if (!saved) return;
      const runs = restoredRuns(saved);
      set({ runs, selected: runs.at(-1)?.id ?? null });
    },
  };
});
