// Lint: typescript-eslint's recommended rules, prettier for layout (eslint-config-prettier turns off what it
// owns), and the folder layers of docs/ARCHITECTURE.md as an import rule: a file in src/X may import only the
// folders listed for X below (tests/unit/layers.test.ts checks the same layers on the whole graph, with cycles
// and the page's run-time reach).

import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** What each folder of src/ may import (besides itself). reference/ may import any engine layer. */
const LAYERS = {
  ui: ['worker', 'gpu', 'data', 'model', 'adapters', 'train', 'study', 'util', 'io'],
  cli: ['worker', 'export', 'study', 'train', 'data', 'adapters', 'model', 'ops', 'gpu', 'io', 'util', 'reference'],
  worker: ['export', 'study', 'train', 'data', 'adapters', 'model', 'ops', 'gpu', 'io', 'util'],
  export: ['train', 'data', 'adapters', 'model', 'ops', 'gpu', 'io', 'util'],
  study: ['train', 'data', 'adapters', 'model', 'gpu', 'io', 'util'],
  train: ['data', 'adapters', 'model', 'ops', 'gpu', 'io', 'util'],
  data: ['io', 'util'],
  adapters: ['model', 'ops', 'gpu', 'io', 'util'],
  model: ['ops', 'gpu', 'io', 'util'],
  ops: ['gpu', 'io', 'util'],
  gpu: ['util'],
  io: ['util'],
  util: [],
};
const FOLDERS = [...Object.keys(LAYERS), 'reference'];

const zones = Object.entries(LAYERS).map(([folder, allowed]) => ({
  target: `./src/${folder}`,
  from: FOLDERS.filter((f) => f !== folder && !allowed.includes(f)).map((f) => `./src/${f}`),
  message: `src/${folder} may import only ${allowed.join(', ') || 'itself'} (docs/ARCHITECTURE.md, Layers).`,
}));

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'tests/oracle/node_modules/**',
      'tests/.artifacts/**',
      'scratch/**',
      'runs/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['src/ui/**/*.{ts,tsx}'],
    plugins: { 'react-hooks': reactHooks },
    rules: reactHooks.configs.recommended.rules,
  },
  {
    plugins: { 'import-x': importX },
    settings: { 'import-x/resolver': { node: { extensions: ['.ts', '.tsx', '.js', '.mjs'] } } },
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      'import-x/no-restricted-paths': ['error', { zones }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
);
