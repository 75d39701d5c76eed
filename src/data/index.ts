// The dataset layer's public API: user files in any common format → validated, templated, split tasks.
// Platform-neutral (no Node APIs) and JSON in, JSON out, so the app runs it in a Web Worker and keeps the raw
// file and the mapping in IndexedDB. The usual flow:
//   const table = readTable(file.name, bytes);           // format sniffed; rows with their lines; unreadable rows
//   const mapping = detectMapping(table);                 // or mappingForSchema(table, 'gsm8k-final'), then edits
//   preview(table, mapping, 5);                           // what the first rows become
//   const { tasks, report } = applyMapping(table, mapping, { tokens: { tokenizer, maxLength: 256, policy: 'truncate' } });
//   const { splits, summary } = splitTasks(tasks, { seed: 1, poolSize: 50, evalMax: 100 });   // pool + held-out set per task
// Whole-file problems throw DatasetError; row problems land in the report with their line.

export { applyMapping, type AppliedMapping, type ApplyOptions, type DataTask, type TokenCheck } from './apply';
export { checkFileSize, MAX_FILE_BYTES } from './text';
export { defaultTaskName, detectMapping, mappingForSchema, SCHEMA_CHOICES } from './detect';
export { DatasetError } from './errors';
export { type AnswerSpec, type ChoiceSource, compileMapping, type FieldMapping, type SchemaId } from './mapping';
export { preview, type PreviewRow } from './preview';
export { type ReadOptions, readTable, sniffFormat } from './read';
export type { DataExample, RowIssueKind } from './render';
export { formatReport, type IssueAction, type IssueKind, type ReportIssue, type ValidationReport } from './report';
export { type SplitPlan, type SplitSummary, splitTasks } from './split';
export {
  checkTaskNames,
  type EvalExample,
  type Example,
  MEAN_TASK,
  parseTaskJsonl,
  type SplitOptions,
  splitTask,
  type Task,
  type TaskSplit,
  tokenizeExample,
  type TokenizedExample,
} from './tasks';
export type { JsonValue, Table, TableFormat, TableIssue, TableRow } from './table';
