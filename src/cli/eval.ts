// `cli eval <model> --adapter DIR --task NAME=FILE ...`: per-task loss and accuracy (src/train/evaluate.ts) of
// the trained adapter and, for comparison, of the base model alone, printed as JSON on stdout.
// A task the adapter was trained on is evaluated on its held-out examples: the file is split again with the
// run's seed and pool size, exactly as training split it, so no training example is scored. Other tasks
// (or any task with --all) use every example. MTL-LoRA runs each task with its own task id, so its tasks
// must be ones it was trained on. Task files are read as train reads them (any format, the same dataset
// flags), so the same flags give the same examples and the same held-out split.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLora } from '../adapters/lora';
import { describeModel, loadDescribed } from '../model/load';
import { releaseWeights } from '../model/weights';
import { type TaskResult, evaluateTasks } from '../train/evaluateTasks';
import { EVAL_SETTINGS, SETTING_INFO, type TrainSettings, parseSettingValue, resolveSettings } from '../train/settings';
import { MODEL_FLAGS, UsageError, modelArgument, withModelFiles } from './args';
import { loadAdapterDir } from './adapterDir';
import { KERNEL_FLAGS, openGpu, parseKernelSetting } from './kernels';
import { defineCommand, parseCommandArgs, usageLine } from './flags';
import { DATA_FLAGS, type RecordedTask, TASKS_JSON, buildTasks, kebab, readTaskArgs } from './train';

/** The answer rules and adaptation examples, as settings flags; left out, the run's own values apply. */
const EVAL_FLAGS = Object.fromEntries(
  EVAL_SETTINGS.map((k) => [
    kebab(k),
    {
      type: 'string',
      value: 'V',
      help: SETTING_INFO[k].help,
      defaultText: "the adapter's training run's",
    } as const,
  ]),
);

export const EVAL = defineCommand({
  name: 'eval',
  args: '<model>',
  summary: 'per-task held-out loss and accuracy of --adapter DIR and of the base model (JSON)',
  flags: {
    adapter: { type: 'string', value: 'DIR', required: true, help: 'the adapter folder train --out DIR wrote' },
    all: {
      type: 'boolean',
      help: 'score every example of each file, not only the held-out ones (no test-time adaptation)',
    },
    'no-adapt': { type: 'boolean', help: 'skip the test-time adaptation column' },
    ...EVAL_FLAGS,
    ...MODEL_FLAGS,
    ...KERNEL_FLAGS,
    ...DATA_FLAGS,
  },
});

/** The run's settings with the evaluation flags on top (answer rules, adaptation examples). */
function withEvalFlags(s: TrainSettings, values: Record<string, unknown>): TrainSettings {
  const overrides = EVAL_SETTINGS.filter((k) => values[kebab(k)] !== undefined).map((k) =>
    parseSettingValue(k, values[kebab(k)] as string),
  );
  return resolveSettings(s.method, Object.assign({ ...s }, ...overrides));
}

const pct = (v: number | null | undefined) => (typeof v === 'number' ? `${(100 * v).toFixed(0)} %` : '–');
const num = (v: number | null | undefined) => (typeof v === 'number' ? v.toFixed(4) : '–');

function summary(r: TaskResult, base: TaskResult): string {
  if (r.split === 'none') return `${r.task}: not evaluated: ${r.note}`;
  const line = (name: string, x: TaskResult['shared']) =>
    x &&
    `${name} loss ${num(x.loss)} (no EOS ${num(x.loss_no_eos)}), ` +
      `answers ${pct(x.answer_accuracy)}${x.choice_accuracy !== null ? `, choice ${pct(x.choice_accuracy)}` : ''}`;
  return `${r.task} (${r.examples} ${r.split}): ${[
    line('base', base.shared),
    line('adapter', r.shared),
    line('adapted', r.adapted),
  ]
    .filter(Boolean)
    .join('; ')}`;
}

export async function evalCommand(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandArgs(args, EVAL);
  const path = modelArgument(positionals, usageLine(EVAL));
  const quant = values.quant;
  // The mappings training used (tasks.json beside the adapter), so held-out examples are read the same way.
  const recorded = await readFile(join(values.adapter, TASKS_JSON), 'utf8').then(
    (t) => JSON.parse(t) as RecordedTask[],
    () => [],
  );
  const taskFiles = await readTaskArgs(values, usageLine(EVAL), recorded);

  await withModelFiles(path, values.tokenizer, async (files) => {
    const description = await describeModel(files);
    const tok = description.tokenizer;
    if (!tok)
      throw new UsageError(
        `${path} has no tokenizer (for a llama2.c .bin put tokenizer.bin beside it or pass --tokenizer).`,
      );
    const ctx = await openGpu(parseKernelSetting(values.kernels));
    try {
      const { weights } = await loadDescribed(ctx, description, { quant });
      const model = { weights, config: description.config };
      const { adapter, config } = await loadAdapterDir(ctx, description.config, values.adapter);
      // B = 0 makes any LoRA an exact no-op: the base model through the same code path.
      const base = createLora(ctx, description.config, { rank: 1, alpha: 1, dropout: 0, targets: ['q'] }, 0);
      const s = withEvalFlags(config.metalora.settings, values);
      const trained = config.metalora.tasks;
      const data = buildTasks(taskFiles, values, {
        tokenizer: tok,
        chatTemplate: description.chatTemplate,
        maxLength: s.maxSeqLen,
        eos: s.appendEos,
      });
      const tasks = data.map((t) => ({ ...t, id: trained.indexOf(t.name) }));
      const unknown = tasks.find((t) => t.id < 0);
      if (adapter.kind === 'mtl-lora' && unknown) {
        throw new UsageError(
          `task ${unknown.name}: this MTL-LoRA adapter was trained on ${trained.join(', ')} only ` +
            "(it needs the task's id).",
        );
      }
      const o = { accuracy: true, all: values.all, adapt: !values['no-adapt'] && !values.all };
      const tuned = await evaluateTasks(ctx, model, adapter, tok, s, tasks, o);
      const plain = await evaluateTasks(ctx, model, base, tok, s, tasks, { ...o, sharedOnly: true });
      const results = tuned.map((r, i) => {
        console.error(summary(r, plain[i]));
        return { ...r, adapter: r.shared, base: plain[i].shared };
      });
      console.log(JSON.stringify({ adapter: values.adapter, method: config.metalora.method, tasks: results }, null, 2));
      [adapter, base].forEach((a) => a.release());
      releaseWeights(weights);
    } finally {
      ctx.destroy();
    }
  });
}
