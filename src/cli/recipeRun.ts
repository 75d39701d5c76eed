// What `export --format pytorch` needs beyond the adapter folder: the run's tasks as training tokenized and
// split them. train recorded each task's file and mapping in DIR/tasks.json; they are read again with the
// base's tokenizer and split with the run's seed (src/train/run.ts prepareTasks), and each pool is checked
// against the pool sizes the checkpoint recorded, so a changed file is refused rather than silently exported.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { AdapterConfig } from '../export/adapterData';
import type { RecipeRun } from '../export/pytorch/recipe';
import type { ModelDescription, ModelFiles } from '../model/load';
import { prepareTasks } from '../train/run';
import { UsageError } from './args';
import { type RecordedTask, TASKS_JSON, buildTasks, readTaskArgs } from './train';

export async function recipeRun(
  dir: string,
  config: AdapterConfig,
  d: ModelDescription,
  base: ModelFiles,
  basePath: string,
): Promise<RecipeRun> {
  const path = join(dir, TASKS_JSON);
  if (!existsSync(path))
    throw new UsageError(`${path} is missing: the pytorch export needs the task files train recorded there.`);
  const recorded = JSON.parse(await readFile(path, 'utf8')) as RecordedTask[];
  if (!d.tokenizer)
    throw new UsageError('the base model has no tokenizer (for a llama2.c .bin pass --tokenizer tokenizer.bin).');
  const s = config.metalora.settings;
  const values = { task: recorded.map((r) => `${r.name}=${r.file}`) };
  const files = await readTaskArgs(values, 'export DIR --format pytorch', recorded);
  const data = buildTasks(files, values, {
    tokenizer: d.tokenizer,
    chatTemplate: d.chatTemplate,
    maxLength: s.maxSeqLen,
    eos: s.appendEos,
  });
  const tasks = prepareTasks(d.tokenizer, data, s);
  const ck = join(dir, 'checkpoint.json');
  if (existsSync(ck)) {
    const want = JSON.stringify((JSON.parse(await readFile(ck, 'utf8')) as { tasks: unknown }).tasks);
    const got = JSON.stringify(tasks.map((t) => ({ name: t.name, poolSize: t.train.length })));
    if (want !== got) {
      throw new UsageError(
        `the task files now give pools ${got}, but the run trained on ${want}: were the files in ` +
          `${TASKS_JSON} changed since training?`,
      );
    }
  }
  return { tasks, hfBasePath: base.kind === 'hf' ? resolve(basePath) : undefined };
}
