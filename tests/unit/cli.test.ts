// The CLI as a user runs it: `npm run cli -- gpu` prints the adapter as JSON; unknown commands fail clearly.

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

describe('cli', () => {
  it('gpu prints the adapter, limits and features as JSON', async () => {
    const { stdout } = await cli('gpu');
    const info = JSON.parse(stdout);
    expect(info.adapter).toMatch(/\w/);
    expect(info.limits.maxBufferSize).toBeGreaterThan(0);
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThan(0);
    expect(Array.isArray(info.features)).toBe(true);
  });

  it('rejects an unknown command with the usage', async () => {
    await expect(cli('frobnicate')).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/Unknown command "frobnicate".*usage/s),
    });
  });
});
