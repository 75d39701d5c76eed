// applyMapping: a Table and its FieldMapping → named tasks of examples and the file's validation report.
// Every row ends up used or in the report with its line and reason: unreadable rows (from the reader), rows
// the mapping cannot render, exact duplicates of an earlier example of the same task (dropped by default,
// reported either way), and, given the model's tokenizer, examples over the maximum length (kept to be
// truncated the way training truncates them, or skipped). Lengths count tokens exactly as the trainer
// tokenizes (src/data/tasks.ts tokenizeExample: BOS, prompt, completion, EOS).

import type { ChatTemplate } from '../io/chatTemplate';
import type { Tokenizer } from '../io/tokenizer';
import { tokenizeExample } from './tasks';
import { type FieldMapping, compileMapping } from './mapping';
import { type DataExample, RowRenderer } from './render';
import { ReportBuilder, type ValidationReport } from './report';
import type { Table, TableIssue } from './table';

export interface TokenCheck {
  tokenizer: Tokenizer;
  /** Longest example in tokens (the training's maxSeqLen). */
  maxLength: number;
  /** 'truncate': keep and let tokenization cut it (prompt from the left first); 'skip': leave it out. */
  policy: 'truncate' | 'skip';
  /** Whether training appends EOS to completions (default true), which counts towards the length. */
  eos?: boolean;
}

export interface ApplyOptions {
  /** Exact duplicates (same task, prompt and completion): 'drop' (default) or 'keep'. */
  duplicates?: 'drop' | 'keep';
  tokens?: TokenCheck;
  /** The model's chat template, needed when the mapping's format is 'chat'. */
  chatTemplate?: ChatTemplate;
}

/** A task as training (src/data/tasks.ts Task) and evaluation (src/train/evaluate.ts EvalTask) take it. */
export interface DataTask {
  name: string;
  examples: DataExample[];
}

export interface AppliedMapping {
  tasks: DataTask[];
  report: ValidationReport;
}

/** Tokens of an example before any truncation, as the trainer would tokenize it. */
function tokenLength(check: TokenCheck, ex: DataExample): number {
  const t = tokenizeExample(check.tokenizer, ex, { maxLength: Number.MAX_SAFE_INTEGER, eos: check.eos ?? true });
  return t.prompt.length + t.completion.length;
}

export function applyMapping(table: Table, mapping: FieldMapping, options: ApplyOptions = {}): AppliedMapping {
  const renderer = new RowRenderer(compileMapping(table, mapping), options.chatTemplate);
  const policy = options.duplicates ?? 'drop';
  const check = options.tokens;
  if (check && (!Number.isInteger(check.maxLength) || check.maxLength < 2)) {
    throw new RangeError(`maxLength must be an integer ≥ 2, got ${check.maxLength}`);
  }
  const report = new ReportBuilder();
  const tasks = new Map<string, DataExample[]>();
  const firstSeen = new Map<string, number>();

  // Unreadable rows are merged in by line so the report lists everything in file order.
  let next = 0;
  const unreadableBefore = (line: number) => {
    for (; next < table.issues.length && table.issues[next].line < line; next++) {
      const { line: l, item, message }: TableIssue = table.issues[next];
      report.add({ line: l, ...(item === undefined ? {} : { item }), kind: 'unreadable', action: 'skipped', message });
    }
  };

  for (const row of table.rows) {
    unreadableBefore(row.line + 1);
    const where = { line: row.line, ...(row.item === undefined ? {} : { item: row.item }) };
    const r = renderer.render(row);
    if (!r.ok) {
      report.add({ ...where, kind: r.kind, action: 'skipped', message: r.message });
      continue;
    }
    const key = `${r.task}\u0000${r.example.prompt}\u0000${r.example.completion}`;
    const earlier = firstSeen.get(key);
    if (earlier !== undefined) {
      report.add({
        ...where,
        kind: 'duplicate',
        action: policy === 'drop' ? 'skipped' : 'kept',
        message: `same prompt and completion as line ${earlier}`,
      });
      if (policy === 'drop') continue;
    } else firstSeen.set(key, row.line);
    if (check) {
      const n = tokenLength(check, r.example);
      report.longest = Math.max(report.longest, n);
      if (n > check.maxLength) {
        report.add({
          ...where,
          kind: 'too-long',
          action: check.policy === 'skip' ? 'skipped' : 'truncated',
          message: `${n} tokens, over the maximum of ${check.maxLength}`,
        });
        if (check.policy === 'skip') continue;
      }
    }
    const list = tasks.get(r.task);
    if (list) list.push(r.example);
    else tasks.set(r.task, [r.example]);
  }
  unreadableBefore(Infinity);
  report.addUnlisted('unreadable', 'skipped', table.unreadable - table.issues.length);

  const out = [...tasks].map(([name, examples]) => ({ name, examples }));
  const used = out.reduce((a, t) => a + t.examples.length, 0);
  return {
    tasks: out,
    report: report.build(
      {
        file: table.file,
        format: table.format,
        header: table.header,
        schema: mapping.schema,
        rows: table.rows.length + table.unreadable,
        used,
        duplicatePolicy: policy,
        tasks: out.map((t) => ({
          name: t.name,
          examples: t.examples.length,
          withChoices: t.examples.filter((e) => e.choices).length,
        })),
      },
      check ? { tokens: check.maxLength, policy: check.policy } : null,
    ),
  };
}
