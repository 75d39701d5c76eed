// Where `cli export --out PATH` puts an export's files, decided from PATH and the file names alone (no disk
// access here, so every case is testable without writing anything):
//   PATH.zip                    one zip of every file;
//   PATH/ or an existing folder  the folder receives the files under their own names;
//   PATH.gguf / PATH.safetensors the export's one model file is written to PATH, and the training report
//                               beside it as <PATH's stem>.training_report.json / .training_metrics.csv; an
//                               export of several files (PEFT's adapter + config, MTL-LoRA's per-task files,
//                               a merged Hugging Face folder) becomes a folder at PATH, with a note saying so;
//   any other PATH              a folder, as before.

import { basename, dirname, extname, join } from 'node:path';
import { REPORT_CSV, REPORT_JSON } from '../export/report';
import { UsageError } from './args';

export interface OutputLayout {
  /** Set: write one zip there. */
  zip?: string;
  /** Otherwise: where each export file (by name) goes. */
  paths: Map<string, string>;
  /** What the user should know about the layout (a file path that became a folder). */
  notes: string[];
}

const FILE_EXTENSIONS = ['.gguf', '.safetensors'];
const REPORTS = [REPORT_JSON, REPORT_CSV];

function inFolder(out: string, names: readonly string[], notes: string[] = []): OutputLayout {
  return { paths: new Map(names.map((n) => [n, join(out, n)])), notes };
}

/**
 * The layout for `names` (the export's files, training report included) under --out `out`; `isFolder` says
 * whether `out` is an existing folder. `format` only words the messages.
 */
export function exportLayout(out: string, names: readonly string[], format: string, isFolder: boolean): OutputLayout {
  const ext = extname(out).toLowerCase();
  if (ext === '.zip') return { zip: out, paths: new Map(), notes: [] };
  if (isFolder || out.endsWith('/') || out.endsWith('\\') || !FILE_EXTENSIONS.includes(ext))
    return inFolder(out, names);
  const models = names.filter((n) => !REPORTS.includes(n));
  if (models.length > 1) {
    return inFolder(out, names, [
      `the ${format} export is ${models.length} files (${models.join(', ')}), so ${out} is a folder ` +
        'holding them (and the training report); give a path ending in .zip for a single file.',
    ]);
  }
  const [model] = models;
  if (extname(model).toLowerCase() !== ext) {
    throw new UsageError(
      `--out ${out}: the ${format} export is ${model}, not a ${ext} file; give a path ending in ` +
        `${extname(model)}, a folder or a .zip.`,
    );
  }
  const stem = basename(out, extname(out));
  const paths = new Map(names.map((n) => [n, n === model ? out : join(dirname(out), `${stem}.${n}`)]));
  return { paths, notes: [] };
}
