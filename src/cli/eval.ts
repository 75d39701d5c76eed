// `cli eval <model> --adapter DIR --task NAME=FILE ...`: per-task loss and accuracy (src/train/evaluate.ts) of
// the trained adapter and, for comparison, of the base model alone, printed as JSON on stdout.
// A task the adapter was trained on is evaluated on its held-out examples: the file is split again with the
// run's seed and pool size, exactly as training split it, so no training example is scored. Other tasks
// (or any task with --all) use every example. MTL-LoRA runs each task with its own task id, so its tasks
// must be ones it was trained on. Task files are read as train reads them (any format, the same dataset
// flags), so the same flags give the same examples and the same held-out split.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { GpuContext } from '../gpu/context';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { createLora } from '../adapters/lora';
import { type EvalExample, type TaskEvaluation, evaluateTask } from '../train/evaluate';
import { splitTask } from '../train/tasks';
import { UsageError, modelArgument, parseCommandArgs, parseQuant, withModelFiles } from './args';
import { loadAdapterDir } from './adapterDir';
import { DATA_OPTIONS, DATA_USAGE, type RecordedTask, TASKS_JSON, buildTasks, readTaskArgs } from './train';

const USAGE = 'npm run cli -- eval <model> --adapter DIR --task NAME=FILE [--task NAME=FILE ...] [--all] ' +
  `[--tokenizer tokenizer.bin] [--quant keep|q8_0|q4_0] [dataset flags]\n\ndataset flags:\n${DATA_USAGE}`;

type Scores = Omit<TaskEvaluation, 'task' | 'kind' | 'examples'>;

const scores = ({ loss, exact_match, choice_accuracy }: TaskEvaluation): Scores => ({ loss, exact_match, choice_accuracy });

export async function evalCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, {
    ...DATA_OPTIONS,
    adapter: { type: 'string' },
    all: { type: 'boolean' },
    tokenizer: { type: 'string' },
    quant: { type: 'string' },
  }, USAGE);
  const path = modelArgument(positionals, USAGE);
  if (values.adapter === undefined) throw new UsageError(`--adapter DIR is required.\nusage: ${USAGE}`);
  const quant = parseQuant(values.quant);
  // The mappings training used (tasks.json beside the adapter), so held-out examples are read the same way.
  const recorded = await readFile(join(values.adapter, TASKS_JSON), 'utf8').then((t) => JSON.parse(t) as RecordedTask[], () => []);
  const taskFiles = await readTaskArgs(values, USAGE, recorded);

  await withModelFiles(path, values.tokenizer, async (files) => {
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok) throw new UsageError(`${path} has no tokenizer (for a llama2.c .bin put tokenizer.bin beside it or pass --tokenizer).`);
    const ctx = await GpuContext.create();
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const model = { weights, config: description.config };
      const { adapter, config } = await loadAdapterDir(ctx, description.config, values.adapter!);
      // B = 0 makes any LoRA an exact no-op: the base model through the same code path.
      const base = createLora(ctx, description.config, { rank: 1, alpha: 1, dropout: 0, targets: ['q'] }, 0);
      const s = config.metalora.settings;
      const trained = config.metalora.tasks;
      const opts = { maxSeqLen: s.maxSeqLen, appendEos: s.appendEos, accuracy: true };
      const tasks = buildTasks(taskFiles, values, { tokenizer: tok, chatTemplate: description.chatTemplate, maxLength: s.maxSeqLen,
        eos: s.appendEos });
      const results = [];
      for (const task of tasks) {
        const id = trained.indexOf(task.name);
        if (adapter.kind === 'mtl-lora' && id < 0) {
          throw new UsageError(`task ${task.name}: this MTL-LoRA adapter was trained on ${trained.join(', ')} only ` +
            '(it needs the task\'s id).');
        }
        const heldOut = id >= 0 && !values.all;
        const examples: EvalExample[] = heldOut
          ? splitTask(task, { poolSize: s.examplesPerTask, evalMax: s.evalExamplesPerTask, seed: s.seed }).eval
          : task.examples;
        if (examples.length === 0) {
          throw new UsageError(`task ${task.name}: all ${task.examples.length} examples went to training (examplesPerTask ` +
            `${s.examplesPerTask}), none is held out; pass --all to score them anyway.`);
        }
        const run = { task: Math.max(0, id), dropoutSeed: 0, params: adapter.params };
        const tuned = await evaluateTask(ctx, model, adapter, tok, run, task.name, examples, opts);
        const baseRun = { task: 0, dropoutSeed: 0, params: base.params };
        const plain = await evaluateTask(ctx, model, base, tok, baseRun, task.name, examples, opts);
        results.push({ task: task.name, kind: tuned.kind, examples: tuned.examples, split: heldOut ? 'held-out' : 'all',
          adapter: scores(tuned), base: scores(plain) });
        console.error(`${task.name}: loss ${tuned.loss?.toFixed(4)} (base ${plain.loss?.toFixed(4)}), exact match ` +
          `${tuned.exact_match} (base ${plain.exact_match})`);
      }
      console.log(JSON.stringify({ adapter: values.adapter, method: config.metalora.method, tasks: results }, null, 2));
      [adapter, base].forEach((a) => a.release());
      releaseWeights(weights);
    } finally {
      ctx.destroy();
    }
  });
}
