// Writing an export's files to disk (src/export/files.ts: each file a list of byte parts).

import { mkdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { ExportFile } from '../export/files';

/** Writes one file part by part (a merged model is never joined into one buffer). */
export async function writeParts(path: string, f: ExportFile): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  try {
    for (const p of f.parts) await handle.write(p);
  } finally {
    await handle.close();
  }
}
