import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
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
