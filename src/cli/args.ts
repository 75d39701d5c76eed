// Argument helpers the model commands share: usage errors, the <model> positional, the flags they take
// (--tokenizer, --quant; --adapter, --task), and opening a <model> path so its files are closed whatever happens.

import type { ModelFiles } from '../model/load';
import { openModelPath } from '../model/openPath';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** --tokenizer and --quant, as every command that loads a <model> takes them (see flags.ts). */
export const MODEL_FLAGS = {
  tokenizer: {
    type: 'string',
    value: 'FILE',
    help: 'the tokenizer of a llama2.c .bin checkpoint',
    defaultText: 'tokenizer.bin or tok*.bin beside the .bin; GGUF files and model folders carry their own',
  },
  quant: {
    type: 'string',
    choices: ['keep', 'q8_0', 'q4_0'],
    default: 'keep',
    help: 'weights on the GPU: as stored (keep), or F32/F16 weights quantized on load',
  },
} as const;

/** --adapter and --task, as logits and generate take them. */
export const ADAPTER_FLAGS = {
  adapter: {
    type: 'string',
    value: 'DIR',
    help: 'add the adapter that train --out DIR wrote',
    defaultText: 'the base model alone',
  },
  task: {
    type: 'string',
    value: 'NAME',
    help: "MTL-LoRA's task to run (with --adapter)",
    defaultText: 'none; MTL-LoRA needs one',
  },
} as const;

/** The one positional <model> argument; `usage` is the command's usage line (flags.ts usageLine). */
export function modelArgument(positionals: string[], usage: string): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      `expected one <model> (a .gguf, a llama2.c .bin or a Hugging Face folder), got ${positionals.length}.\n` + usage,
    );
  }
  return positionals[0];
}

function sourcesOf(files: ModelFiles) {
  switch (files.kind) {
    case 'gguf':
      return [files.file];
    case 'llama2c':
      return files.tokenizer ? [files.file, files.tokenizer] : [files.file];
    case 'hf':
      return [...files.files.values()];
  }
}

/** Opens <model> (with an optional llama2.c --tokenizer), runs `use`, and closes every file it opened. */
export async function withModelFiles<T>(
  path: string,
  tokenizer: string | undefined,
  use: (files: ModelFiles) => Promise<T>,
): Promise<T> {
  const files = await openModelPath(path, { tokenizer });
  try {
    return await use(files);
  } finally {
    await Promise.all(sourcesOf(files).map((s) => s.close?.()));
  }
}
