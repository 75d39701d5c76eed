// The validation report of one file under one mapping: how many rows were read, used and skipped, each
// problem with its kind, line and what was done about it (skipped, truncated, or kept), so nothing is dropped
// silently. Counts are exact; the list of issues is capped (MAX_REPORT_ISSUES) so a hopeless file cannot
// exhaust memory. Plain JSON, for the worker to post and the UI to show; formatReport prints it for the CLI.

import type { SchemaId } from './mapping';
import type { RowIssueKind } from './render';
import type { TableFormat } from './table';

export type IssueKind = 'unreadable' | RowIssueKind | 'duplicate' | 'too-long';

/** skipped: not used; truncated: used, cut to the maximum length when tokenized; kept: used as it is. */
export type IssueAction = 'skipped' | 'truncated' | 'kept';

export interface ReportIssue {
  line: number;
  item?: number;
  kind: IssueKind;
  action: IssueAction;
  message: string;
}

export interface ValidationReport {
  file: string;
  format: TableFormat;
  header: boolean;
  schema: SchemaId;
  /** Rows in the file (readable or not; nested instances count one each). rows = used + skipped. */
  rows: number;
  used: number;
  skipped: number;
  /** Used examples longer than the maximum length (cut when tokenized for training). */
  truncated: number;
  /** Exact repeats of an earlier example of the same task (dropped or kept per `duplicatePolicy`). */
  duplicates: number;
  duplicatePolicy: 'drop' | 'keep';
  /** The token-length check, when a tokenizer was given: the limit, the policy and the longest example seen. */
  maxLength: { tokens: number; policy: 'truncate' | 'skip'; longest: number } | null;
  tasks: { name: string; examples: number; withChoices: number }[];
  counts: Partial<Record<IssueKind, number>>;
  /** The first MAX_REPORT_ISSUES issues in file order. */
  issues: ReportIssue[];
  omittedIssues: number;
}

export const MAX_REPORT_ISSUES = 1000;

export class ReportBuilder {
  private readonly issues: ReportIssue[] = [];
  private readonly counts: Partial<Record<IssueKind, number>> = {};
  private omitted = 0;
  skipped = 0;
  truncated = 0;
  duplicates = 0;
  longest = 0;

  add(issue: ReportIssue): void {
    this.count(issue.kind, issue.action);
    if (this.issues.length < MAX_REPORT_ISSUES) this.issues.push(issue);
    else this.omitted++;
  }

  /** Issues known only by number (unreadable rows beyond the table's stored list). */
  addUnlisted(kind: IssueKind, action: IssueAction, n: number): void {
    for (let i = 0; i < n; i++) this.count(kind, action);
    this.omitted += n;
  }

  private count(kind: IssueKind, action: IssueAction): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    if (action === 'skipped') this.skipped++;
    if (action === 'truncated') this.truncated++;
    if (kind === 'duplicate') this.duplicates++;
  }

  build(
    base: Pick<
      ValidationReport,
      'file' | 'format' | 'header' | 'schema' | 'rows' | 'used' | 'duplicatePolicy' | 'tasks'
    >,
    maxLength: { tokens: number; policy: 'truncate' | 'skip' } | null,
  ): ValidationReport {
    return {
      ...base,
      skipped: this.skipped,
      truncated: this.truncated,
      duplicates: this.duplicates,
      maxLength: maxLength && { ...maxLength, longest: this.longest },
      counts: this.counts,
      issues: this.issues,
      omittedIssues: this.omitted,
    };
  }
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** A few lines for a terminal: the totals, the issue counts by kind, and the first `listed` issues. */
export function formatReport(r: ValidationReport, listed = 5): string {
  const kinds = Object.entries(r.counts)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const tasks = r.tasks.map(
    (t) => `${t.name} ${t.examples}${t.withChoices === t.examples && t.examples > 0 ? ' (multiple choice)' : ''}`,
  );
  const lines = [
    `${r.file}: ${r.format.toUpperCase()}${r.format === 'csv' || r.format === 'tsv' ? (r.header ? ' with header' : ' without header') : ''}, ` +
      `schema ${r.schema}; ${plural(r.rows, 'row')}: ${r.used} used, ${r.skipped} skipped` +
      `${r.truncated ? `, ${r.truncated} over ${r.maxLength!.tokens} tokens (truncated)` : ''}` +
      `${r.duplicates ? `, ${plural(r.duplicates, 'duplicate')} ${r.duplicatePolicy === 'drop' ? 'dropped' : 'kept'}` : ''}` +
      `${kinds ? ` [${kinds}]` : ''}; tasks: ${tasks.join(', ') || 'none'}`,
  ];
  for (const i of r.issues.slice(0, listed)) {
    lines.push(
      `  line ${i.line}${i.item !== undefined ? ` (item ${i.item})` : ''}: ${i.kind}, ${i.action}: ${i.message}`,
    );
  }
  const more = r.issues.length + r.omittedIssues - Math.min(listed, r.issues.length);
  if (more > 0) lines.push(`  … and ${plural(more, 'more issue')}`);
  return lines.join('\n');
}
