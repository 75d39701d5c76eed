// `npm run cli -- COMMAND --help`: generated from the same declaration the parser uses (src/cli/flags.ts), so
// every flag a command accepts is listed with its default, and a default shown is the value the parser fills
// in. Checked for every command from its declaration, plus once as a user runs it (subprocess).

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands';
import { type CommandSpec, helpText, parseCommandArgs } from '../../src/cli/flags';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run('npx', ['tsx', '--import', './src/cli/register-wgsl.mjs', 'src/cli/main.ts', ...args], { encoding: 'utf8' });

/** The help line that documents --name (a long name puts its text on the next line). */
function helpFor(help: string, name: string): string {
  const lines = help.split('\n');
  const i = lines.findIndex((l) => new RegExp(`^  --${name}( |$)`).test(l));
  return i < 0 ? '' : `${lines[i]} ${lines[i + 1] ?? ''}`;
}

/** Minimal arguments that satisfy the command's required flags. */
function requiredArgs(spec: CommandSpec): string[] {
  return Object.entries(spec.flags)
    .filter(([, f]) => f.required)
    .flatMap(([name, f]) => [`--${name}`, f.choices ? f.choices[0] : 'x']);
}

describe('cli --help', () => {
  it.each(COMMANDS.map((c) => [c.spec.name, c.spec] as const))('%s lists every flag with its default', (_, spec) => {
    const help = helpText(spec);
    expect(help).toContain(`usage: npm run cli -- ${spec.name}`);
    const listed = Object.entries(spec.flags).filter(([, f]) => !f.hidden);
    for (const [name, f] of listed) {
      const line = helpFor(help, name);
      expect(line, `--${name} in ${spec.name} --help`).toContain(f.help);
      const expected = f.required
        ? '(required)'
        : f.default !== undefined
          ? `(default: ${f.default})`
          : f.defaultText !== undefined
            ? `(default: ${f.defaultText})`
            : '(default: off)';
      expect(line, `--${name}'s default`).toContain(expected);
    }
    // The parser fills in exactly the defaults the help shows.
    const { values } = parseCommandArgs(requiredArgs(spec), spec);
    for (const [name, f] of listed.filter(([, flag]) => !flag.required))
      expect(values[name], `--${name}`).toBe(f.default);
  });

  it('train and study list the training settings with their defaults; their camelCase spelling is accepted, not listed', () => {
    const train = COMMANDS.find((c) => c.spec.name === 'train')!.spec;
    expect(helpFor(helpText(train), 'inner-lr')).toMatch(/SGD rate.*\(default: 0\.003\)/);
    expect(helpFor(helpText(train), 'innerLr')).toBe('');
    expect(parseCommandArgs(['--innerLr', '0.1', ...requiredArgs(train)], train).values.innerLr).toBe('0.1');
    // The study's own axes replace the settings of the same name.
    const study = COMMANDS.find((c) => c.spec.name === 'study')!.spec;
    expect(helpFor(helpText(study), 'examples-per-task')).toMatch(/an axis of the study/);
    expect(helpFor(helpText(study), 'method')).toBe('');
  });

  it('unknown flags, missing required flags and bad choices fail with the usage line', () => {
    const logits = COMMANDS.find((c) => c.spec.name === 'logits')!.spec;
    expect(() => parseCommandArgs(['--tokens', '1', '--frobnicate'], logits)).toThrow(
      /Unknown option '--frobnicate'.*usage: npm run cli -- logits/s,
    );
    expect(() => parseCommandArgs(['--tokens', '1'], logits)).toThrow(
      /--json OUT is required.*--help lists every flag/s,
    );
    expect(() => parseCommandArgs(['--tokens', '1', '--json', 'x', '--quant', 'q5'], logits)).toThrow(
      /--quant q5: expected one of keep, q8_0, q4_0/,
    );
  });

  it("prints a command's help as a user runs it, and exits 0", async () => {
    const { stdout } = await cli('export', '--help');
    expect(stdout.trim()).toBe(helpText(COMMANDS.find((c) => c.spec.name === 'export')!.spec));
    expect(stdout).toMatch(/--out PATH +a \.gguf or \.safetensors file/);
  });
});
