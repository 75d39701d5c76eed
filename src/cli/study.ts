// `cli study <model> --task NAME=FILE ... --methods a,b --seeds 3 [--grid "lr=1e-3,3e-3 innerLr=0.01"]
// [--examples-per-task 16,50] [--preset ID] [--<setting> V ...] --out DIR`: trains and evaluates every
// combination (src/study/grid.ts) with the same driver and evaluation as `train` and `eval` — there is no
// second training path — and writes DIR/results.json, DIR/results.md and SVG plots. Each run lives in
// DIR/runs/<id>/ (checkpoint, metrics.jsonl, result.json): a finished run is skipped when the study is run
// again (unless its recorded settings differ from today's, e.g. after a change of defaults), an interrupted one
// resumes from its checkpoint, and adding seeds or settings trains only what is new.
// The base model is evaluated once per split (seed × examples per task) into DIR/base/.

import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLora } from '../adapters/lora';
import type { Adapter } from '../adapters/types';
import type { DataTask } from '../data';
import type { TaskSplit, TokenizedExample } from '../data/tasks';
import type { GpuContext } from '../gpu/context';
import type { Tokenizer } from '../io/tokenizer';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { type GridAxis, type StudyRun, parseGrid, parseIntList, parseMethods, studyRuns } from '../study/grid';
import { studyMarkdown } from '../study/report';
import { type BaseResult, type GroupSummary, type RunResult, curveOf, summarize } from '../study/summary';
import { barChart, lineChart } from '../study/svg';
import { directoryCheckpointStore } from '../train/checkpointStore';
import { evaluateTasks } from '../train/evaluateTasks';
import { MEAN_TASK, type MetricsRecord, metricsLine } from '../train/metrics';
import { prepareTasks, runTraining } from '../train/run';
import { SETTING_INFO, type SettingKey, type TrainSettings } from '../train/settings';
import type { TrainModel } from '../train/step';
import { MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { defineCommand, parseCommandArgs, usageLine } from './flags';
import { type RecipeTraining, STUDY_ENGINES, recipeEngine, trainByRecipe } from './studyRecipe';
import { DATA_FLAGS, buildTasks, readTaskArgs, settingFlags, settingOverrides, settingsWith } from './train';

export const STUDY = defineCommand({
  name: 'study',
  args: '<model>',
  summary: 'train and evaluate every method × --grid setting × seed, writing results.md, results.json and SVG plots',
  flags: {
    out: {
      type: 'string',
      value: 'DIR',
      required: true,
      help: 'the study folder (runs/, base/, results and plots); a rerun continues it',
    },
    methods: {
      type: 'string',
      value: 'M1,M2',
      default: 'meta-lora,meta-lora-no-sta,lora,mtl-lora',
      help: 'the methods to compare',
    },
    seeds: { type: 'string', value: 'N', default: '3', help: 'seeds per combination' },
    'first-seed': { type: 'string', value: 'S', default: '0', help: 'the first seed (seeds S, S+1, …)' },
    grid: {
      type: 'string',
      multiple: true,
      value: '"KEY=V1,V2 …"',
      defaultText: 'the defaults only',
      help: 'settings to vary, every combination trained (e.g. "lr=1e-3,3e-3 innerLr=0.01,0.03")',
    },
    'examples-per-task': {
      type: 'string',
      value: 'N1,N2',
      defaultText: "the preset's or the default setting's",
      help: 'training examples per task: an axis of the study',
    },
    examplesPerTask: { type: 'string', hidden: true, help: '--examples-per-task' },
    preset: {
      type: 'string',
      value: 'ID',
      defaultText: 'none',
      help: 'a named group of settings, applied before the setting flags',
    },
    engine: {
      type: 'string',
      choices: STUDY_ENGINES,
      default: 'webgpu',
      help:
        'what trains each run: webgpu (the studio) or pytorch (the exported recipe, train.py, equal to it to ' +
        '≤ 1e-4: faster where WebGPU is a CPU, or on a CUDA machine); evaluation is always on WebGPU',
    },
    python: {
      type: 'string',
      value: 'PATH',
      default: 'python3',
      help: '--engine pytorch: the Python 3 with torch and numpy',
    },
    recompute: {
      type: 'boolean',
      help: "keep only each block's input in the forward pass and recompute the rest in backward (less memory)",
    },
    ...MODEL_FLAGS,
    ...KERNEL_FLAGS,
    ...DATA_FLAGS,
    // Method, seed and examples per task are the study's axes (--methods, --seeds, --examples-per-task above).
    ...settingFlags(['method', 'seed', 'examplesPerTask']),
  },
});

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const writeJson = (path: string, value: unknown) => writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);

interface StudyEnv {
  ctx: GpuContext;
  model: TrainModel;
  tok: Tokenizer;
  /** The tasks read under a run's tokenization (cached per maxSeqLen and EOS choice). */
  tasksFor: (s: TrainSettings) => DataTask[];
  settingsOf: (run: StudyRun) => TrainSettings;
  /** Set with --engine pytorch: each run is trained by the exported recipe (studyRecipe.ts). */
  recipe?: Omit<RecipeTraining, 'ctx' | 'tasks' | 'settings' | 'dir' | 'label'>;
}

/** Equal in every setting the run's method reads (a change of, say, batchSize does not touch a meta-lora run). */
function sameRunSettings(a: TrainSettings, b: TrainSettings): boolean {
  const keys = (Object.keys(SETTING_INFO) as SettingKey[]).filter((k) => SETTING_INFO[k].appliesTo.includes(b.method));
  return keys.every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));
}

/** Trains the run with the studio's own trainer (WebGPU), resuming from the run folder's checkpoint. */
async function trainOnGpu(
  env: StudyEnv,
  tasks: TaskSplit<TokenizedExample>[],
  settings: TrainSettings,
  dir: string,
  label: string,
): Promise<{ adapter: Adapter; metrics: MetricsRecord[] }> {
  const { ctx, model } = env;
  const metricsFile = join(dir, 'metrics.jsonl');
  writeFileSync(metricsFile, '');
  const result = await runTraining({
    ctx,
    model,
    tasks,
    settings,
    store: directoryCheckpointStore(dir),
    resume: true,
    onRecords: (rows, restored) => {
      appendFileSync(metricsFile, rows.map((r) => `${metricsLine(r)}\n`).join(''));
      const mean = rows.find((r) => r.task === MEAN_TASK);
      if (restored || !mean) return;
      if (typeof mean.eval_loss === 'number')
        console.error(`${label}  held-out loss @${mean.iteration}: ${mean.eval_loss.toFixed(4)}`);
      else if (mean.iteration % 10 === 0)
        console.error(
          `${label}  iter ${mean.iteration}/${settings.iterations}  objective ${mean.query_loss?.toFixed(4)}`,
        );
    },
  });
  return result;
}

async function trainAndEvaluate(env: StudyEnv, run: StudyRun, dir: string, label: string): Promise<RunResult> {
  const { ctx, model, tok } = env;
  const settings = env.settingsOf(run);
  const data = env.tasksFor(settings);
  const tasks = prepareTasks(tok, data, settings);
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  const result = env.recipe
    ? await trainByRecipe({ ...env.recipe, ctx, tasks, settings, dir, label })
    : await trainOnGpu(env, tasks, settings, dir, label);
  try {
    const evaluated = await evaluateTasks(
      ctx,
      model,
      result.adapter,
      tok,
      settings,
      data.map((t, id) => ({ ...t, id })),
      {
        accuracy: true,
        adapt: true,
        onProgress: (i, n, task) => i < n && console.error(`${label}  evaluating ${task}`),
      },
    );
    return {
      ...run,
      settings,
      seconds: (performance.now() - t0) / 1000,
      curve: curveOf(result.metrics),
      tasks: evaluated,
    };
  } finally {
    result.adapter.release();
  }
}

async function evaluateBase(env: StudyEnv, run: StudyRun): Promise<BaseResult> {
  const settings = env.settingsOf(run);
  const data = env.tasksFor(settings);
  const zero = createLora(env.ctx, env.model.config, { rank: 1, alpha: 1, dropout: 0, targets: ['q'] }, 0);
  try {
    const tasks = await evaluateTasks(
      env.ctx,
      env.model,
      zero,
      env.tok,
      settings,
      data.map((t, id) => ({ ...t, id })),
      { accuracy: true, adapt: false },
    );
    return { seed: run.seed, examplesPerTask: run.examplesPerTask, tasks };
  } finally {
    zero.release();
  }
}

function writeReports(out: string, groups: GroupSummary[], command: string, modelPath: string): void {
  writeFileSync(
    join(out, 'results.md'),
    studyMarkdown(groups, { command, model: modelPath, when: new Date().toISOString() }),
  );
  for (const n of [...new Set(groups.map((g) => g.examplesPerTask))]) {
    const mine = groups.filter((g) => g.examplesPerTask === n);
    const trained = mine.filter((g) => g.method !== 'base');
    const name = (g: GroupSummary) =>
      g.setting === 'defaults' || g.setting === '' ? g.method : `${g.method} ${g.setting}`;
    // Iteration 0 is the base model (B = 0) on the same split.
    const start = mine.find((g) => g.method === 'base')?.scores.shared.loss[MEAN_TASK];
    const origin = start ? [{ x: 0, y: start.mean, sd: start.sd }] : [];
    writeFileSync(
      join(out, `curves-n${n}.svg`),
      lineChart(
        `Held-out loss during training (${n} examples per task, mean over tasks)`,
        'iteration',
        'held-out loss',
        trained.map((g) => ({
          name: name(g),
          points: [...origin, ...g.curve.map((p) => ({ x: p.iteration, y: p.mean.mean, sd: p.mean.sd }))],
        })),
      ),
    );
    const tasks = [...new Set(mine.flatMap((g) => Object.keys(g.scores.shared.answer_accuracy)))].filter(
      (t) => t !== MEAN_TASK,
    );
    const bars = (side: 'shared' | 'adapted') =>
      mine
        .filter((g) => side === 'shared' || g.method !== 'base')
        .map((g) => ({
          name: `${g.method === 'base' ? 'base model' : name(g)}`,
          values: [...tasks, MEAN_TASK].map((t) => {
            const s = g.scores[side].answer_accuracy[t];
            return s ? { y: 100 * s.mean, sd: 100 * s.sd } : null;
          }),
        }));
    writeFileSync(
      join(out, `final-n${n}.svg`),
      barChart(
        `Answer accuracy on held-out examples (${n} per task), shared adapter`,
        'answer accuracy (%)',
        [...tasks, 'mean'],
        bars('shared'),
        100,
      ),
    );
    writeFileSync(
      join(out, `adapted-n${n}.svg`),
      barChart(
        `Answer accuracy after test-time adaptation (${n} per task)`,
        'answer accuracy (%)',
        [...tasks, 'mean'],
        bars('adapted'),
        100,
      ),
    );
  }
}

interface ReportTarget {
  out: string;
  command: string;
  model: string;
}

/** results.json, results.md and the plots, from every run so far. */
function writeAll(t: ReportTarget, results: RunResult[], bases: BaseResult[]): void {
  const groups = summarize(results, bases);
  writeJson(join(t.out, 'results.json'), {
    command: t.command,
    model: t.model,
    runs: results,
    base: bases,
    summary: groups,
  });
  writeReports(t.out, groups, t.command, t.model);
}

/** The base model's evaluation on a run's split: read back, or computed once and saved. */
async function baseFor(env: StudyEnv, run: StudyRun, out: string, label: string): Promise<BaseResult> {
  const file = join(out, 'base', `n${run.examplesPerTask}_s${run.seed}.json`);
  if (!existsSync(file)) {
    console.error(`${label}  evaluating the base model on this split`);
    writeJson(file, await evaluateBase(env, run));
  }
  return readJson<BaseResult>(file);
}

/** A finished run's result when it was trained with the settings this study would use now. */
function finishedEarlier(env: StudyEnv, run: StudyRun, dir: string, label: string): RunResult | null {
  const done = join(dir, 'result.json');
  if (!existsSync(done)) return null;
  const earlier = readJson<RunResult>(done);
  if (sameRunSettings(earlier.settings, env.settingsOf(run))) return earlier;
  // Same id, other settings (the defaults or a fixed flag changed since): the old run does not count.
  console.error(`${label}  trained earlier with other settings: training again`);
  rmSync(dir, { recursive: true, force: true });
  return null;
}

const meanLoss = (r: RunResult, side: 'shared' | 'adapted') => {
  const v = r.tasks.map((t) => t[side]?.loss).filter((x): x is number => typeof x === 'number');
  return v.length ? (v.reduce((a, x) => a + x, 0) / v.length).toFixed(4) : '–';
};

/** Every run in order (skipping finished ones), with the reports rewritten after each new run. */
async function runAll(
  env: StudyEnv,
  runs: readonly StudyRun[],
  t: ReportTarget,
): Promise<{ results: RunResult[]; bases: BaseResult[] }> {
  const results: RunResult[] = [];
  const bases = new Map<string, BaseResult>();
  console.error(`study: ${runs.length} runs on ${env.ctx.adapterName}, results in ${t.out}`);
  for (const [i, run] of runs.entries()) {
    const label = `[${i + 1}/${runs.length}] ${run.id}`;
    const split = `n${run.examplesPerTask}_s${run.seed}`;
    if (!bases.has(split)) bases.set(split, await baseFor(env, run, t.out, label));
    const dir = join(t.out, 'runs', run.id);
    const earlier = finishedEarlier(env, run, dir, label);
    if (earlier) {
      results.push(earlier);
      console.error(`${label}  done earlier`);
      continue;
    }
    console.error(
      `${label}  training ${run.method} (${run.setting}, ${run.examplesPerTask} per task, seed ${run.seed})`,
    );
    const result = await trainAndEvaluate(env, run, dir, label);
    writeJson(join(dir, 'result.json'), result);
    results.push(result);
    console.error(
      `${label}  finished in ${result.seconds.toFixed(0)} s: held-out loss ${meanLoss(result, 'shared')}, ` +
        `adapted ${meanLoss(result, 'adapted')}`,
    );
    writeAll(t, results, [...bases.values()]);
  }
  return { results, bases: [...bases.values()] };
}

export async function studyCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, STUDY);
  const path = modelArgument(positionals, usageLine(STUDY));
  const out = values.out;
  // --examples-per-task is a list here (an axis of the study), not one setting.
  const examples = values['examples-per-task'] ?? values.examplesPerTask;
  const fixed = settingOverrides({ ...values, 'examples-per-task': undefined, examplesPerTask: undefined });
  const quant = values.quant;
  let axes: GridAxis[];
  let runs: StudyRun[];
  try {
    axes = parseGrid(values.grid ?? []);
    runs = studyRuns({
      methods: parseMethods(values.methods),
      axes,
      examples:
        examples === undefined
          ? [settingsWith(values.preset, 'lora', fixed).examplesPerTask]
          : parseIntList('--examples-per-task', examples, 1),
      seeds: parseIntList('--seeds', values.seeds, 1)[0],
      firstSeed: parseIntList('--first-seed', values['first-seed'], 0)[0],
    });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n${usageLine(STUDY)}`);
  }
  const settingsOf = (run: StudyRun) =>
    settingsWith(values.preset, run.method, {
      ...fixed,
      ...run.overrides,
      seed: run.seed,
      examplesPerTask: run.examplesPerTask,
    });
  runs.forEach(settingsOf); // every combination validated before anything trains
  const taskFiles = await readTaskArgs(values, usageLine(STUDY));
  mkdirSync(join(out, 'runs'), { recursive: true });
  mkdirSync(join(out, 'base'), { recursive: true });
  const command = `npm run cli -- study ${args.map((a) => (/[\s"]/.test(a) ? JSON.stringify(a) : a)).join(' ')}`;

  await withModelFiles(path, values.tokenizer, async (files) => {
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok)
      throw new UsageError(
        `${path} has no tokenizer (for a llama2.c .bin put tokenizer.bin beside it or pass --tokenizer).`,
      );
    const cache = new Map<string, DataTask[]>();
    const tasksFor = (s: TrainSettings) => {
      const key = `${s.maxSeqLen}|${s.appendEos}`;
      if (!cache.has(key)) {
        cache.set(
          key,
          buildTasks(taskFiles, values, {
            tokenizer: tok,
            chatTemplate: description.chatTemplate,
            maxLength: s.maxSeqLen,
            eos: s.appendEos,
          }),
        );
      }
      return cache.get(key)!;
    };
    const ctx = await openGpu(parseKernelSetting(values.kernels));
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const recipe =
        values.engine === 'pytorch'
          ? {
              description,
              files,
              modelPath: path,
              engine: await recipeEngine(values.python, path, files, description, out),
            }
          : undefined;
      const env: StudyEnv = { ctx, model: { weights, config: description.config }, tok, tasksFor, settingsOf, recipe };
      const report = { out, command, model: path };
      const { results, bases } = await runAll(env, runs, report);
      writeAll(report, results, bases);
      console.error(`wrote ${join(out, 'results.json')}, results.md and the SVG plots`);
      releaseWeights(weights);
    } finally {
      ctx.destroy();
    }
  });
}
