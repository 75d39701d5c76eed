// FieldMapping: how a Table's rows become {prompt, completion} examples. It is plain JSON (the app keeps it in
// IndexedDB next to the raw file and re-applies it), detected per schema (detect.ts) and editable field by
// field. compileMapping checks a mapping against a table once, before any row is rendered, so a mapping that
// cannot work (a template naming a column the file lacks, a bad template) fails as a whole with one clear
// DatasetError instead of skipping every row.

import { DatasetError } from './errors';
import type { Table } from './table';
import { type Template, parseTemplate } from './template';

export type SchemaId =
  | 'prompt-completion'
  | 'messages'
  | 'alpaca'
  | 'llm-adapters'
  | 'llm-adapters-output'
  | 'gsm8k'
  | 'gsm8k-final'
  | 'question-answer'
  | 'bbh'
  | 'nli'
  | 'qnli'
  | 'paraphrase'
  | 'sentiment'
  | 'cola'
  | 'mmlu'
  | 'copa'
  | 'cosmosqa'
  | 'custom';

/** Where a row's candidate answers (for choice accuracy) come from. */
export type ChoiceSource =
  /** The label map's answer words (classification). */
  | 'labels'
  /** A field holding the row's list of candidate answers (the demo tasks' "choices"). */
  | { list: string }
  /** A text field ending "Answer format: a/b/c" (LLM-Adapters' commonsense sets). */
  | { answerFormat: string };

/** The field holding the answer of a classification or multiple-choice task. */
export interface AnswerSpec {
  field: string;
  /** Raw value → answer word (SST-2: {"0": "negative", "1": "positive"}); null when the value is the word. */
  labels: Record<string, string> | null;
  /**
   * Candidate answers, attached to each example as `choices` (the completion template rendered with each
   * candidate in place of the answer) when the completion template uses `field`; null for none.
   */
  choices: ChoiceSource | null;
}

export interface FieldMapping {
  schema: SchemaId;
  /** New names for the table's columns, in order (header-less files: MMLU's question, A, B, C, D, answer). */
  columns: string[] | null;
  /** Templates (template.ts) over the row's fields; in chat format the prompt becomes the user's message. */
  prompt: string;
  completion: string;
  answer: AnswerSpec | null;
  /**
   * The column holding a chat as [{role, content}]: its last message (the assistant's) is the field `reply`,
   * the messages before it the field `conversation` ("User: …" lines), or the chat template's input.
   */
  messages: string | null;
  /** 'template': the prompt template's text; 'chat': rendered through the model's chat template. */
  format: 'template' | 'chat';
  /** Chat format: a system message put first ('' for none). */
  system: string;
  /** A column naming each row's task: one file, several tasks. */
  taskColumn: string | null;
  /** The task's name when there is no task column (default: the file name without extension). */
  taskName: string;
  /** Task column value → task name (values not listed keep their own name). */
  taskNames: Record<string, string>;
}

/** Fields a `messages` mapping adds to every row. */
export const CONVERSATION_FIELD = 'conversation';
export const REPLY_FIELD = 'reply';

export interface CompiledMapping {
  mapping: FieldMapping;
  prompt: Template;
  completion: Template;
  /** Field name → the table's column it reads. */
  source: Map<string, string>;
  /** Whether the completion uses the answer field, so choices apply. */
  choicesApply: boolean;
}

/** Checks `mapping` against `table` and parses its templates; throws DatasetError naming what is wrong. */
export function compileMapping(table: Table, mapping: FieldMapping): CompiledMapping {
  const fail = (why: string): never => {
    throw new DatasetError(`${table.file}: ${why}`, table.file);
  };
  const names = mapping.columns ?? table.columns;
  if (mapping.columns) {
    if (mapping.columns.length !== table.columns.length) {
      fail(`the mapping names ${mapping.columns.length} columns but the file has ${table.columns.length}.`);
    }
    if (new Set(mapping.columns).size !== mapping.columns.length || mapping.columns.some((c) => c.trim() === '')) {
      fail('column names must be distinct and non-empty.');
    }
  }
  const source = new Map(names.map((n, i) => [n, table.columns[i]]));
  const prompt = parseTemplate(mapping.prompt, 'prompt template');
  const completion = parseTemplate(mapping.completion, 'completion template');
  const virtual = mapping.messages !== null ? [CONVERSATION_FIELD, REPLY_FIELD] : [];
  const known = (f: string) => source.has(f) || virtual.includes(f);
  const columnList = names.length > 12 ? `${names.slice(0, 12).join(', ')}, …` : names.join(', ');
  const need = (f: string, role: string) => {
    if (!known(f))
      fail(
        `${role} "${f}" is not a column of the file (columns: ${columnList}${virtual.length ? `; chat fields: ${virtual.join(', ')}` : ''}).`,
      );
  };
  prompt.fields.forEach((f) => need(f, "the prompt template's field"));
  completion.fields.forEach((f) => need(f, "the completion template's field"));
  if (mapping.messages !== null) need(mapping.messages, 'the messages field');
  if (mapping.taskColumn !== null) need(mapping.taskColumn, 'the task column');
  else if (mapping.taskName.trim() === '') fail('the task needs a name.');
  const { answer } = mapping;
  if (answer) {
    need(answer.field, 'the answer field');
    if (answer.labels !== null) {
      const words = Object.values(answer.labels);
      if (words.length === 0 || words.some((w) => typeof w !== 'string' || w.trim() === '')) {
        fail('every label needs a non-empty answer word.');
      }
    }
    if (answer.choices === 'labels' && answer.labels === null) fail('choices from the labels need a label map.');
    if (answer.choices && answer.choices !== 'labels') {
      need('list' in answer.choices ? answer.choices.list : answer.choices.answerFormat, 'the choices field');
    }
  }
  if (mapping.format !== 'template' && mapping.format !== 'chat')
    fail(`unknown prompt format "${String(mapping.format)}".`);
  return {
    mapping,
    prompt,
    completion,
    source,
    choicesApply: answer !== null && completion.fields.includes(answer.field),
  };
}
