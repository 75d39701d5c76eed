// Argument helpers the model commands share: node:util parseArgs with errors that carry the usage, the
// --quant choice, and opening a <model> path so its files are closed whatever happens.

import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ModelFiles } from '../model/load';
import { openModelPath } from '../model/openPath';
import type { BaseQuant } from '../model/weights';

export class UsageError extends Error {
  override name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `args` strictly: unknown options and missing values fail with the command's usage line. */
export function parseCommandArgs<O extends Options>(args: string[], options: O, usage: string) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\nusage: ${usage}`);
  }
}

/** The one positional <model> argument. */
export function modelArgument(positionals: string[], usage: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(`expected one <model> (a .gguf, a llama2.c .bin or a Hugging Face folder), got ${positionals.length}.\n` +
      `usage: ${usage}`);
  }
  return positionals[0];
}

const QUANTS: readonly BaseQuant[] = ['keep', 'q8_0', 'q4_0'];

export function parseQuant(value: string | undefined): BaseQuant {
  if (value === undefined) return 'keep';
  if (!(QUANTS as readonly string[]).includes(value)) {
    throw new UsageError(`--quant ${value}: expected one of ${QUANTS.join(', ')}.`);
  }
  return value as BaseQuant;
}

function sourcesOf(files: ModelFiles) {
  switch (files.kind) {
    case 'gguf': return [files.file];
    case 'llama2c': return files.tokenizer ? [files.file, files.tokenizer] : [files.file];
    case 'hf': return [...files.files.values()];
  }
}

/** Opens <model> (with an optional llama2.c --tokenizer), runs `use`, and closes every file it opened. */
export async function withModelFiles<T>(path: string, tokenizer: string | undefined,
  use: (files: ModelFiles) => Promise<T>): Promise<T> {
  const files = await openModelPath(path, { tokenizer });
  try {
    return await use(files);
  } finally {
    await Promise.all(sourcesOf(files).map((s) => s.close?.()));
  }
}
