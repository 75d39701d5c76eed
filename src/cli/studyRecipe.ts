// `study --engine pytorch`: a study run trained by the exported PyTorch recipe (recipes/pytorch/train.py, the
// `export --format pytorch` folder) instead of on WebGPU, then evaluated like every study run (evaluateTasks on
// WebGPU). The recipe reproduces the WGSL trainer's losses and adapter to ≤ 1e-4 (measured ≤ 4e-7:
// tests/unit/pytorchRecipe.test.ts, and tests/unit/studyRecipe.test.ts for this path), so this is the same
// training on another engine: what makes the paper's 1000-iteration scale affordable where WebGPU is a CPU
// (SwiftShader), and what puts a study on a CUDA machine. Each run's recipe lives in DIR/runs/<id>/recipe/,
// train.py writes the adapter folder, metrics.jsonl and its checkpoint into DIR/runs/<id>/; an interrupted run
// resumes from that checkpoint.

import { spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Adapter } from '../adapters/types';
import type { TaskSplit, TokenizedExample } from '../data/tasks';
import { type AdapterConfig, adapterConfig } from '../export/adapterData';
import { pytorchRecipeFiles, recipeBaseFiles } from '../export/pytorch/recipe';
import type { GpuContext } from '../gpu/context';
import type { ModelDescription, ModelFiles } from '../model/load';
import { type MetricsRecord, parseMetricsJsonl } from '../train/metrics';
import { createAdapterFor } from '../train/run';
import type { TrainSettings } from '../train/settings';
import { ADAPTER_CONFIG, ADAPTER_MODEL, adapterFromData, readAdapterDir } from './adapterDir';
import { writeParts } from './writeParts';

export const STUDY_ENGINES = ['webgpu', 'pytorch'] as const;
export type StudyEngine = (typeof STUDY_ENGINES)[number];

/** What every recipe run of a study shares: the interpreter and the base in Hugging Face layout. */
export interface RecipeEngine {
  python: string;
  /** A folder with the base in HF layout: the user's HF folder, or DIR/pytorch-base written once. */
  basePath: string;
}

export class RecipeRunError extends Error {
  override name = 'RecipeRunError';
}

/** The base as train.py reads it: an HF folder is used where it is; any other base is written once into DIR. */
export async function recipeEngine(
  python: string,
  modelPath: string,
  files: ModelFiles,
  d: ModelDescription,
  studyDir: string,
): Promise<RecipeEngine> {
  if (files.kind === 'hf') return { python, basePath: resolve(modelPath) };
  const basePath = resolve(studyDir, 'pytorch-base');
  if (!existsSync(join(basePath, 'config.json'))) {
    // config.json last, so a half-written folder is written again.
    const baseFiles = await recipeBaseFiles(files, d);
    const ordered = [
      ...baseFiles.filter((f) => f.name !== 'config.json'),
      ...baseFiles.filter((f) => f.name === 'config.json'),
    ];
    for (const f of ordered) await writeParts(join(basePath, f.name), f);
  }
  return { python, basePath };
}

export interface RecipeTraining {
  ctx: GpuContext;
  description: ModelDescription;
  files: ModelFiles;
  modelPath: string;
  tasks: readonly TaskSplit<TokenizedExample>[];
  settings: TrainSettings;
  /** The run's folder: recipe/ inside, train.py's outputs beside it. */
  dir: string;
  engine: RecipeEngine;
  /** Prefixes the progress lines. */
  label: string;
}

async function writeRecipe(t: RecipeTraining, recipeDir: string): Promise<void> {
  const { ctx, description: d, settings: s } = t;
  // The adapter's config as `train` would write it: the recipe's run.json carries it to train.py's output.
  const shape = createAdapterFor(ctx, d.config, s, t.tasks.length, 0);
  const names = t.tasks.map((x) => x.name);
  const config = adapterConfig(shape, s, names, t.modelPath, d.config.ropePairing);
  shape.release();
  const files = await pytorchRecipeFiles(config, t.files, d, { tasks: t.tasks, hfBasePath: t.engine.basePath }, []);
  for (const f of files) await writeParts(join(recipeDir, f.name), f);
}

/** Lines worth a study's log: starts, evaluations, errors, every 50th iteration. */
function worthPrinting(line: string): boolean {
  const it = /^iter (\d+)\//.exec(line);
  return it ? Number(it[1]) % 50 === 0 : line.trim() !== '';
}

/** Runs `python train.py` to the end, printing its progress; rejects with its last lines on failure. */
function runTrainPy(python: string, args: string[], label: string): Promise<void> {
  return new Promise((done, fail) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    const read = (stream: NodeJS.ReadableStream) =>
      createInterface({ input: stream }).on('line', (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        if (worthPrinting(line)) console.error(`${label}  [pytorch] ${line}`);
      });
    read(child.stdout);
    read(child.stderr);
    child.on('error', (e) =>
      fail(
        new RecipeRunError(
          `cannot start ${python} (${e.message}): --engine pytorch needs Python 3 with torch and numpy ` +
            '(e.g. apt-get install python3-torch python3-numpy; --python PATH picks the interpreter)',
        ),
      ),
    );
    child.on('close', (code) =>
      code === 0
        ? done()
        : fail(new RecipeRunError(`${python} ${args.join(' ')} exited with ${code}:\n${tail.join('\n')}`)),
    );
  });
}

const TORCH_CHECKPOINT = 'torch_checkpoint.json';

async function settingsIn(path: string, read: (json: never) => TrainSettings): Promise<TrainSettings | null> {
  return existsSync(path) ? read(JSON.parse(await readFile(path, 'utf8')) as never) : null;
}

const sameSettings = (a: TrainSettings | null, b: TrainSettings) =>
  a !== null && (Object.keys(b) as (keyof TrainSettings)[]).every((k) => JSON.stringify(a[k]) === JSON.stringify(b[k]));

/**
 * Whether train.py finished this run (it writes the adapter last) with these settings. Outputs of other settings
 * (a change of defaults since, or a run stopped and redefined) are removed, so the run starts again rather than
 * resuming a checkpoint train.py would refuse.
 */
async function trainedWith(dir: string, s: TrainSettings): Promise<boolean> {
  const adapter = await settingsIn(join(dir, ADAPTER_CONFIG), (c: AdapterConfig) => c.metalora.settings);
  const checkpoint = await settingsIn(join(dir, TORCH_CHECKPOINT), (c: { settings: TrainSettings }) => c.settings);
  if (checkpoint !== null && !sameSettings(checkpoint, s)) rmSync(join(dir, TORCH_CHECKPOINT), { force: true });
  if (adapter !== null && !sameSettings(adapter, s)) rmSync(join(dir, ADAPTER_MODEL), { force: true });
  return sameSettings(adapter, s) && existsSync(join(dir, ADAPTER_MODEL));
}

/** Trains the run with train.py (or resumes it), then loads its adapter onto the GPU for evaluation. */
export async function trainByRecipe(t: RecipeTraining): Promise<{ adapter: Adapter; metrics: MetricsRecord[] }> {
  const recipeDir = join(t.dir, 'recipe');
  if (!(await trainedWith(t.dir, t.settings))) {
    await writeRecipe(t, recipeDir);
    const resume = existsSync(join(t.dir, TORCH_CHECKPOINT));
    if (resume) console.error(`${t.label}  resuming train.py from its checkpoint`);
    await runTrainPy(
      t.engine.python,
      [join(recipeDir, 'train.py'), '--out', t.dir, ...(resume ? ['--resume'] : [])],
      t.label,
    );
  }
  const metrics = parseMetricsJsonl(await readFile(join(t.dir, 'metrics.jsonl'), 'utf8'));
  const adapter = adapterFromData(t.ctx, t.description.config, await readAdapterDir(t.dir));
  return { adapter, metrics };
}
