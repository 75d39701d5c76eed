// Where `cli export --out PATH` writes each file (src/cli/exportLayout.ts): a .gguf / .safetensors path is one
// file with the training report beside it, a folder takes the files by name, a .zip takes them all, and an
// export of several files given a file path becomes a folder with a note. (cliExport.test.ts runs it for real.)

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportLayout } from '../../src/cli/exportLayout';

const REPORT = ['training_report.json', 'training_metrics.csv'];
const GGUF = ['adapter.gguf', ...REPORT];
const paths = (out: string, names: string[], isFolder = false) =>
  Object.fromEntries(exportLayout(out, names, 'gguf', isFolder).paths);

describe('cli export --out layout', () => {
  it('a .gguf path is the one model file, the report beside it under the same stem', () => {
    expect(paths(join('runs', 'lora.gguf'), GGUF)).toEqual({
      'adapter.gguf': join('runs', 'lora.gguf'),
      'training_report.json': join('runs', 'lora.training_report.json'),
      'training_metrics.csv': join('runs', 'lora.training_metrics.csv'),
    });
    expect(paths('merged.SafeTensors', ['model.safetensors', ...REPORT])['model.safetensors']).toBe(
      'merged.SafeTensors',
    );
  });

  it('a folder (trailing slash, existing folder, or a name without a file extension) takes the files by name', () => {
    for (const [out, isFolder] of [
      ['runs/x.gguf/', false],
      ['runs/x.gguf', true],
      ['runs/demo-gguf', false],
    ] as const) {
      expect(paths(out, GGUF, isFolder), out).toEqual(Object.fromEntries(GGUF.map((n) => [n, join(out, n)])));
    }
  });

  it('a .zip path is one zip of every file', () => {
    expect(
      exportLayout('out/peft.ZIP', ['adapter_model.safetensors', 'adapter_config.json', ...REPORT], 'peft', false),
    ).toEqual({ zip: 'out/peft.ZIP', paths: new Map(), notes: [] });
  });

  it('several files for a file path become a folder there, and the note says so', () => {
    const names = ['adapter-colors.gguf', 'adapter-animals.gguf', ...REPORT];
    const layout = exportLayout('mtl.gguf', names, 'gguf', false);
    expect(Object.fromEntries(layout.paths)).toEqual(Object.fromEntries(names.map((n) => [n, join('mtl.gguf', n)])));
    expect(layout.notes).toEqual([
      'the gguf export is 2 files (adapter-colors.gguf, adapter-animals.gguf), so mtl.gguf is a ' +
        'folder holding them (and the training report); give a path ending in .zip for a single file.',
    ]);
  });

  it("refuses a file path whose extension is not the export's", () => {
    expect(() => exportLayout('m.safetensors', ['model-f16.gguf', ...REPORT], 'merged-gguf', false)).toThrow(
      '--out m.safetensors: the merged-gguf export is model-f16.gguf, not a .safetensors file; give a path ending in .gguf, a folder or a .zip.',
    );
  });
});
