// Node module hook: `import text from './x.wgsl?raw'` yields the file's text, as Vite and Vitest do.
// This is how the CLI and benchmarks (run by tsx) load the same shader imports as the browser build; the
// PyTorch recipe's train.py (recipes/pytorch) is imported the same way.
import { readFile } from 'node:fs/promises';

export async function load(url, context, nextLoad) {
  if (url.startsWith('file:') && /\.(wgsl|py)\?raw$/.test(url)) {
    const text = await readFile(new URL(url.slice(0, url.indexOf('?'))), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return nextLoad(url, context);
}
