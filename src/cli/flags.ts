// One declaration per command (`CommandSpec`): its flags with their types, placeholders, help and defaults.
// The parser (node:util parseArgs, strict) and `--help` are both generated from it, so they cannot drift:
// a flag's default is filled in by the parser and printed by the help from the same field.

import { parseArgs } from 'node:util';
import { UsageError } from './args';

export interface Flag {
  type: 'string' | 'boolean';
  /** The value's placeholder in help and errors ("N", "DIR"); string flags only. */
  value?: string;
  help: string;
  /** The only values the parser accepts (and the placeholder, when `value` is not given). */
  choices?: readonly string[];
  /** Filled in by the parser when the flag is absent, and shown in help. */
  default?: string;
  /** What leaving the flag out means, where no fixed value can stand in for it (shown in help). */
  defaultText?: string;
  /** The parser refuses the command without it. */
  required?: boolean;
  multiple?: boolean;
  /** The help section it is listed under (default "options"). */
  group?: string;
  /** Accepted but not listed: another spelling of a listed flag (a setting's camelCase key). */
  hidden?: boolean;
}

export type Flags = Record<string, Flag>;

export interface CommandSpec<F extends Flags = Flags> {
  name: string;
  /** One line for the command list and the top of its help. */
  summary: string;
  /** The positional part of the usage line ("<model>", "DIR"), empty for none. */
  args: string;
  flags: F;
}

type StringOf<F extends Flag> = F extends { choices: readonly (infer C)[] } ? C : string;
type ValueOf<F extends Flag> = F['type'] extends 'boolean'
  ? boolean
  : F['multiple'] extends true
    ? StringOf<F>[]
    : StringOf<F>;
type AlwaysSet<F extends Flag> = F extends { default: string } ? true : F extends { required: true } ? true : false;
/** The parsed flags: those with a default or required are always set. */
export type Values<F extends Flags> = {
  -readonly [K in keyof F]: AlwaysSet<F[K]> extends true ? ValueOf<F[K]> : ValueOf<F[K]> | undefined;
};

/** Keeps the flags' literal types, so parsed values are typed per flag. */
export function defineCommand<const F extends Flags>(spec: CommandSpec<F>): CommandSpec<F> {
  return spec;
}

function flagName(name: string, f: Flag): string {
  const value = f.value ?? f.choices?.join('|');
  return `--${name}${value ? ` ${value}` : ''}`;
}

/** Checks a flag's presence and choices after parsing. */
function checkFlag(name: string, f: Flag, given: unknown): void {
  const oneOf = f.choices && `one of ${f.choices.join(', ')}`;
  if (f.required && given === undefined) {
    throw new UsageError(
      f.choices
        ? `--${name} must be ${oneOf} (it is required): ${f.help}.`
        : `${f.multiple ? 'at least one ' : ''}${flagName(name, f)} is required: ${f.help}.`,
    );
  }
  const bad = f.choices && [given ?? []].flat().find((v) => !f.choices!.includes(v as string));
  if (bad !== undefined) throw new UsageError(`--${name} ${bad}: expected ${oneOf}.`);
}

export function usageLine(spec: CommandSpec): string {
  const required = Object.entries(spec.flags)
    .filter(([, f]) => f.required)
    .map(([n, f]) => flagName(n, f));
  return `usage: npm run cli -- ${[spec.name, spec.args, ...required, '[options]'].filter(Boolean).join(' ')}`;
}

/** "(default: X)", "(required)", or for booleans "(default: off)". */
function defaultNote(f: Flag): string {
  if (f.required) return '(required)';
  if (f.default !== undefined) return `(default: ${f.default})`;
  if (f.defaultText !== undefined) return `(default: ${f.defaultText})`;
  return f.type === 'boolean' ? '(default: off)' : '';
}

/** The command's help: summary, usage, then each group of flags with its help and default. */
export function helpText(spec: CommandSpec): string {
  const lines = new Map<string, [string, string][]>([['options', []]]);
  for (const [name, f] of Object.entries(spec.flags)) {
    if (f.hidden) continue;
    const group = f.group ?? 'options';
    const note = defaultNote(f);
    lines.set(group, [...(lines.get(group) ?? []), [flagName(name, f), `${f.help}${note ? ` ${note}` : ''}`]]);
  }
  lines.get('options')!.push(['-h, --help', 'print this help']);
  const width = Math.min(28, Math.max(...[...lines.values()].flat().map(([name]) => name.length))) + 2;
  // A name too long for the column gets a line of its own, its help under the column.
  const row = ([name, text]: [string, string]) =>
    `  ${name.length < width ? name.padEnd(width) : `${name}\n  ${' '.repeat(width)}`}${text}`;
  const sections = [...lines]
    .filter(([, rows]) => rows.length)
    .map(([title, rows]) => `${title}:\n${rows.map(row).join('\n')}`);
  return [spec.summary, usageLine(spec), ...sections].join('\n\n');
}

/** Whether the user asked for a command's help rather than running it. */
export const wantsHelp = (args: readonly string[]) => args.includes('--help') || args.includes('-h');

/**
 * Parses `args` strictly against the command's flags: unknown flags, missing values and missing required
 * flags fail with the usage line; absent flags with a default get it.
 */
export function parseCommandArgs<F extends Flags>(
  args: string[],
  spec: CommandSpec<F>,
): { values: Values<F>; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(spec.flags).map(([name, f]) => [
      name,
      {
        type: f.type,
        ...(f.multiple ? { multiple: true } : {}),
        ...(f.default !== undefined ? { default: f.default } : {}),
      },
    ]),
  );
  const more = `\n${usageLine(spec)}\n(npm run cli -- ${spec.name} --help lists every flag)`;
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}${more}`);
  }
  for (const [name, f] of Object.entries(spec.flags)) {
    try {
      checkFlag(name, f, parsed.values[name]);
    } catch (e) {
      throw new UsageError(`${(e as Error).message}${more}`);
    }
  }
  return { values: parsed.values as Values<F>, positionals: parsed.positionals };
}
