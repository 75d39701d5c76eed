// Lint: typescript-eslint's recommended rules, react-hooks on the page, prettier for layout
// (eslint-config-prettier turns off what it owns), and the folder layers of docs/ARCHITECTURE.md as an import
// rule: a file in src/X may import only the folders listed for X below, type-only imports aside
// (tests/unit/layers.test.ts checks the same layers on the resolved graph, with cycles and the page's run-time
// reach).

import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
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

/** One rule per folder: relative imports that climb out of src/X into a folder it may not use. */
const layerRules = Object.entries(LAYERS).map(([folder, allowed]) => {
  const banned = FOLDERS.filter((f) => f !== folder && !allowed.includes(f));
  return {
    files: [`src/${folder}/**/*.{ts,tsx}`],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${banned.join('|')})(/|$)`,
              allowTypeImports: true,
              message: `src/${folder} may import only ${allowed.join(', ') || 'itself'} (docs/ARCHITECTURE.md, Layers).`,
            },
          ],
        },
      ],
    },
  };
});

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
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...layerRules,
);
