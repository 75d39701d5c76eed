// The `pytorch` export: a self-contained folder that reproduces the run in PyTorch (recipes/pytorch/train.py,
// kept as a real Python file and imported as text) — the run's settings, the tasks as token ids with the
// studio's training/held-out split, the initial adapter, the schedule of every iteration, the base model in
// Hugging Face layout (or, for a Hugging Face folder on disk, a pointer to it) and a README with the commands.
// train.py's outputs are the studio's adapter folder again, so `cli eval`, `cli export` and Compare read them.

import trainPy from '../../../recipes/pytorch/train.py?raw';
import type { ModelDescription, ModelFiles } from '../../model/load';
import type { TaskSplit, TokenizedExample } from '../../data/tasks';
import { writeSafetensors } from '../../io/safetensors';
import type { AdapterConfig } from '../adapterData';
import { type ExportFile, jsonFile, textFile } from '../files';
import { mergedHfFiles } from '../mergedHf';
import { HF_PAIRING } from '../rowOrder';
import { initialAdapterTensors } from './initialAdapter';
import { recipeReadme } from './readme';
import { recipeSchedule } from './schedule';

/** What the recipe needs beyond the adapter: the run's tokenized tasks, split as training split them. */
export interface RecipeRun {
  tasks: readonly TaskSplit<TokenizedExample>[];
  /**
   * A folder on this machine holding the base in Hugging Face layout (the user's HF folder, or one written once
   * by `recipeBaseFiles` for many runs, as the study does): run.json points there instead of copying the
   * weights. Absent (the browser, or a GGUF / llama2.c base exported once): the base is written into base/.
   */
  hfBasePath?: string;
}

export class RecipeError extends Error {
  override name = 'RecipeError';
}

const RECIPE_FORMAT = { format: 'metalora-pytorch-recipe', version: 1 } as const;

/** Each recorded task's pool size must be what the run trained on, or the schedule would index other examples. */
function checkTasks(config: AdapterConfig, run: RecipeRun): void {
  const names = run.tasks.map((t) => t.name);
  if (JSON.stringify(names) !== JSON.stringify(config.metalora.tasks)) {
    throw new RecipeError(
      `the tasks given (${names.join(', ')}) are not the run's (${config.metalora.tasks.join(', ')})`,
    );
  }
  const small = run.tasks.find((t) => t.train.length === 0);
  if (small) throw new RecipeError(`task ${small.name} has no training examples`);
}

/** The base in Hugging Face layout, as train.py reads it (the weights as training saw them). */
export async function recipeBaseFiles(base: ModelFiles, d: ModelDescription): Promise<ExportFile[]> {
  const stored = d.tensors.find((t) => t.name === 'blk.0.attn_q.weight')?.dtype;
  // F16/BF16 kept, F32 kept, quantized weights dequantized to F32 (exactly).
  const dtype = stored === 'F16' || stored === 'BF16' ? stored : 'F32';
  // mergedHfFiles' note about missing tokenizer files concerns inference; train.py reads token ids only.
  return mergedHfFiles(base, d, null, dtype, []);
}

const asPairs = (examples: readonly TokenizedExample[]) => examples.map((e) => [e.prompt, e.completion]);

export async function pytorchRecipeFiles(
  config: AdapterConfig,
  base: ModelFiles,
  d: ModelDescription,
  run: RecipeRun,
  notes: string[],
): Promise<ExportFile[]> {
  checkTasks(config, run);
  const s = config.metalora.settings;
  const tasks = run.tasks;
  const init = initialAdapterTensors(d.config, s, tasks.length);
  const files: ExportFile[] = [
    textFile('train.py', trainPy),
    {
      name: 'adapter_init.safetensors',
      parts: writeSafetensors(
        init.map((t) => ({
          name: t.name,
          dtype: 'F32' as const,
          shape: t.shape,
          data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
        })),
        { format: 'pt' },
      ),
    },
    jsonFile('data.json', {
      tasks: tasks.map((t) => ({ name: t.name, train: asPairs(t.train), eval: asPairs(t.eval) })),
    }),
    jsonFile('schedule.json', {
      iterations: recipeSchedule(
        s,
        tasks.map((t) => t.train.length),
      ),
    }),
  ];
  const pointer = run.hfBasePath !== undefined;
  if (!pointer) files.push(...(await recipeBaseFiles(base, d)).map((f) => ({ ...f, name: `base/${f.name}` })));
  // Training wrote the adapter in the base's Q/K pairing; train.py trains on the HF layout, so its adapter is 'half'.
  const adapterConfig = { ...config, metalora: { ...config.metalora, ropePairing: HF_PAIRING } };
  files.push(
    jsonFile('run.json', {
      ...RECIPE_FORMAT,
      method: s.method,
      settings: s,
      tasks: tasks.map((t) => t.name),
      base: { path: pointer ? run.hfBasePath : 'base', name: d.name, source: base.kind },
      adapter_config: adapterConfig,
    }),
  );
  files.push(textFile('README.md', recipeReadme(d, s, tasks, pointer)));
  notes.push(
    pointer
      ? `run.json points to the Hugging Face base at ${run.hfBasePath}; on another machine pass --base with its copy there.`
      : 'base/ holds the base model in Hugging Face layout (Q/K rows in rotate-half order), as train.py reads it.',
  );
  return files;
}
