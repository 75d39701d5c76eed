// Node only (CLI, tests, benchmarks): turn a path into ModelFiles. A .gguf file, a llama2.c .bin (with its
// tokenizer.bin given or found beside it), or a Hugging Face folder.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileSource } from '../io/byteSource';
import type { ModelFiles } from './load';

export async function openModelPath(path: string, opts: { tokenizer?: string } = {}): Promise<ModelFiles> {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder.`);
  if (statSync(path).isDirectory()) {
    const files = new Map();
    for (const name of readdirSync(path)) {
      if (/\.(json|safetensors|jinja|model)$/.test(name)) files.set(name, await fileSource(join(path, name)));
    }
    if (!files.has('config.json')) throw new Error(`${path}: a model folder needs config.json (Hugging Face layout).`);
    return { kind: 'hf', files };
  }
  const file = await fileSource(path);
  const magic = new TextDecoder().decode(await file.read(0, Math.min(4, file.size)));
  if (magic === 'GGUF') return { kind: 'gguf', file };
  if (opts.tokenizer !== undefined && !existsSync(opts.tokenizer))
    throw new Error(`${opts.tokenizer}: no such tokenizer file.`);
  if (path.endsWith('.bin')) {
    const candidates = [
      opts.tokenizer,
      join(dirname(path), 'tokenizer.bin'),
      ...readdirSync(dirname(path))
        .filter((n) => /^tok.*\.bin$/.test(n) && n !== basename(path))
        .map((n) => join(dirname(path), n)),
    ];
    const tok = candidates.find((c): c is string => !!c && existsSync(c));
    return { kind: 'llama2c', file, tokenizer: tok ? await fileSource(tok) : undefined };
  }
  throw new Error(`${path}: not a GGUF file (magic ${JSON.stringify(magic)}), a llama2.c .bin or a model folder.`);
}
