// One zip of an export's files (fflate), so the browser offers a single download. Tensor files are stored
// (float bytes barely compress and deflating gigabytes would stall the worker); JSON and CSV are deflated.

import { type Zippable, zipSync } from 'fflate';
import { concatParts } from '../io/ggufWriter';
import type { ExportFile } from './files';

const TEXT = /\.(json|csv|jinja|txt)$/;

export function zipFiles(files: readonly ExportFile[]): Uint8Array {
  const entries: Zippable = {};
  for (const f of files) {
    if (f.name in entries) throw new Error(`zip: two files named ${f.name}`);
    entries[f.name] = [concatParts(f.parts), { level: TEXT.test(f.name) ? 6 : 0 }];
  }
  return zipSync(entries);
}
