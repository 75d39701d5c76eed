import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';

// The CLI processes tests start measure kernel variants once per run into this file (src/cli/kernels.ts), not
// into the user's ~/.cache: a run never depends on what an earlier one measured.
process.env.METALORA_KERNEL_CACHE ??= join(tmpdir(), `metalora-test-kernels-${process.pid}.json`);

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/unit/globalSetup.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        // llama.cpp (node-llama-cpp, CPU) as the outside oracle on GGUF files the tests write; globalSetup
        // installs it into tests/oracle/node_modules on first use (it is not an app dependency).
        test: {
          name: 'oracle',
          include: ['tests/oracle/**/*.test.ts'],
          environment: 'node',
          testTimeout: 120_000,
          hookTimeout: 120_000,
          globalSetup: ['tests/oracle/globalSetup.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 180_000,
          hookTimeout: 300_000,
          globalSetup: ['tests/e2e/globalSetup.ts'],
        },
      },
    ],
  },
});
