// One table row → one example {prompt, completion, choices?} under a compiled mapping, or the reason it cannot
// be used (a missing value, an unknown label, a bad chat, …). Shared by applyMapping and preview so what the
// user previews is exactly what trains. In chat format the prompt goes through the model's chat template
// (src/io/chatTemplate.ts) with the assistant's turn opened, and the completion loses its leading whitespace
// (the template's turn header already separates it).

import type { ChatMessage, ChatTemplate } from '../io/chatTemplate';
import { DatasetError } from './errors';
import type { EvalExample } from './tasks';
import { type ChoiceSource, type CompiledMapping, CONVERSATION_FIELD, REPLY_FIELD } from './mapping';
import { renderTemplate } from './template';
import { type JsonValue, type TableRow, kindOf, textOf } from './table';

/** An example as the data layer delivers it: what training and evaluation read, plus where it came from. */
export interface DataExample extends EvalExample {
  /** 1-based line of the file the example was read from. */
  line: number;
}

/** Why a row was not used. */
export type RowIssueKind =
  'missing-field' | 'empty-completion' | 'unknown-label' | 'bad-choices' | 'bad-messages' | 'no-task';

export type RenderResult =
  { ok: true; task: string; example: DataExample } | { ok: false; kind: RowIssueKind; message: string };

const ANSWER_FORMAT = 'Answer format:';

/** The answers listed after the last "Answer format:" up to the line end ("true/false" → [true, false]). */
function answerFormatWords(text: string): string[] {
  const at = text.lastIndexOf(ANSWER_FORMAT);
  if (at < 0) return [];
  const end = text.indexOf('\n', at);
  return text
    .slice(at + ANSWER_FORMAT.length, end < 0 ? text.length : end)
    .split('/')
    .map((w) => w.trim())
    .filter((w) => w !== '');
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

interface Chat {
  /** The messages before the final assistant reply. */
  turns: ChatMessage[];
  reply: string;
}

/** A row's chat: [{role, content}, …] ending with the assistant's reply, after at least one other message. */
function readChat(value: JsonValue | undefined): Chat | string {
  if (!Array.isArray(value) || value.length < 2) return 'expected a list of at least two {role, content} messages';
  const messages: ChatMessage[] = [];
  for (const m of value) {
    if (
      typeof m !== 'object' ||
      m === null ||
      Array.isArray(m) ||
      typeof m.role !== 'string' ||
      typeof m.content !== 'string'
    ) {
      return `every message needs a string "role" and "content" (got ${kindOf(m)} ${JSON.stringify(m).slice(0, 60)})`;
    }
    messages.push({ role: m.role, content: m.content });
  }
  const last = messages[messages.length - 1];
  if (last.role !== 'assistant') return `the last message is the "${last.role}"'s; it must be the assistant's reply`;
  return { turns: messages.slice(0, -1), reply: last.content };
}

type RowIssue = Extract<RenderResult, { ok: false }>;

const issue = (kind: RowIssueKind, message: string): RowIssue => ({ ok: false, kind, message });
const isIssue = (x: unknown): x is RowIssue => typeof x === 'object' && x !== null && (x as RowIssue).ok === false;

/** One row's fields as templates see them: by mapped column, with overrides (the answer word, chat fields). */
class RowFields {
  readonly overrides = new Map<string, string>();

  constructor(
    private readonly row: TableRow,
    private readonly source: ReadonlyMap<string, string>,
  ) {}

  raw(field: string): JsonValue | undefined {
    const col = this.source.get(field) ?? field;
    return Object.hasOwn(this.row.values, col) ? this.row.values[col] : undefined;
  }

  /** What `{field}` renders as: an override, else the value as text; undefined when missing or null. */
  readonly lookup = (field: string): string | undefined => {
    const o = this.overrides.get(field);
    if (o !== undefined) return o;
    const v = this.raw(field);
    return v === undefined || v === null ? undefined : textOf(v);
  };
}

export class RowRenderer {
  constructor(
    private readonly compiled: CompiledMapping,
    private readonly chatTemplate?: ChatTemplate,
  ) {
    if (compiled.mapping.format === 'chat' && !chatTemplate) {
      throw new DatasetError(
        'the mapping uses the chat format, but the model has no chat template; use the template format.',
      );
    }
  }

  /** One row → its task and example, or the first reason it cannot be used. */
  render(row: TableRow): RenderResult {
    const fields = new RowFields(row, this.compiled.source);
    const task = this.taskOf(fields);
    if (isIssue(task)) return task;
    const chat = this.readMessages(fields);
    if (isIssue(chat)) return chat;
    const word = this.answerWord(fields);
    if (isIssue(word)) return word;
    const completion = this.completion(fields);
    if (isIssue(completion)) return completion;
    if (completion.trim() === '') return issue('empty-completion', 'the completion is empty');
    const prompt = this.prompt(fields, chat);
    if (isIssue(prompt)) return prompt;
    const example: DataExample = { prompt, completion, line: row.line };
    const choices = word === undefined ? undefined : this.choices(fields, word);
    if (isIssue(choices)) return choices;
    if (choices) example.choices = choices;
    return { ok: true, task, example };
  }

  /** The mapping's task, or the row's task column mapped through the task names. */
  private taskOf(fields: RowFields): string | RowIssue {
    const { mapping } = this.compiled;
    if (mapping.taskColumn === null) return mapping.taskName;
    const t = fields.lookup(mapping.taskColumn)?.trim();
    if (!t) return issue('no-task', `no task name in column "${mapping.taskColumn}"`);
    return Object.hasOwn(mapping.taskNames, t) ? mapping.taskNames[t] : t;
  }

  /** A conversation column: its turns, with the reply and the whole conversation as template fields. */
  private readMessages(fields: RowFields): Chat | null | RowIssue {
    const { mapping } = this.compiled;
    if (mapping.messages === null) return null;
    const chat = readChat(fields.raw(mapping.messages));
    if (typeof chat === 'string') return issue('bad-messages', chat);
    fields.overrides.set(REPLY_FIELD, chat.reply);
    fields.overrides.set(CONVERSATION_FIELD, chat.turns.map((m) => `${capitalize(m.role)}: ${m.content}`).join('\n'));
    return chat;
  }

  /** The answer: its label mapped to the answer word, which then stands in for the field everywhere. */
  private answerWord(fields: RowFields): string | undefined | RowIssue {
    const { answer } = this.compiled.mapping;
    if (!answer) return undefined;
    const value = fields.lookup(answer.field);
    if (value === undefined) return issue('missing-field', `no value for "${answer.field}"`);
    // Labels are looked up trimmed ("1 " is label 1); an unmapped value keeps its spacing (" woof.").
    const { labels } = answer;
    const word = labels === null ? value : Object.hasOwn(labels, value.trim()) ? labels[value.trim()] : undefined;
    if (word === undefined) {
      const known = Object.keys(answer.labels!);
      return issue(
        'unknown-label',
        `label ${JSON.stringify(value.trim())} is not in the label map ` +
          `(${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''})`,
      );
    }
    fields.overrides.set(answer.field, word);
    return word;
  }

  private completion(fields: RowFields): string | RowIssue {
    const r = renderTemplate(this.compiled.completion, fields.lookup);
    if ('missing' in r) return issue('missing-field', `no value for {${r.missing}}`);
    return this.compiled.mapping.format === 'chat' ? r.text.trimStart() : r.text;
  }

  /** The prompt template's text, or in the chat format the conversation through the model's chat template. */
  private prompt(fields: RowFields, chat: Chat | null): string | RowIssue {
    const { mapping } = this.compiled;
    let user: string | null = null;
    if (mapping.format !== 'chat' || !chat) {
      const r = renderTemplate(this.compiled.prompt, fields.lookup);
      if ('missing' in r) return issue('missing-field', `no value for {${r.missing}}`);
      if (mapping.format !== 'chat') return r.text;
      user = r.text;
    }
    let messages: ChatMessage[] = chat ? chat.turns : [{ role: 'user', content: user! }];
    if (mapping.system !== '' && messages[0]?.role !== 'system')
      messages = [{ role: 'system', content: mapping.system }, ...messages];
    try {
      return this.chatTemplate!.apply(messages, { addGenerationPrompt: true });
    } catch (e) {
      return issue('bad-messages', (e as Error).message);
    }
  }

  /** Candidate completions (each choice word rendered in the answer's place); undefined when the row has none. */
  private choices(fields: RowFields, word: string): string[] | undefined | RowIssue {
    const { answer } = this.compiled.mapping;
    if (!answer?.choices || !this.compiled.choicesApply) return undefined;
    const words = this.choiceWords(answer.choices, (f) => fields.raw(f));
    if (typeof words === 'string') return issue('bad-choices', words);
    if (words === null) return undefined;
    if (!words.some((w) => w.trim() === word.trim())) {
      return issue('bad-choices', `the answer ${JSON.stringify(word)} is not one of the choices (${words.join(', ')})`);
    }
    const choices: string[] = [];
    for (const w of words) {
      fields.overrides.set(answer.field, w);
      const c = this.completion(fields);
      if (isIssue(c)) return c;
      choices.push(c);
    }
    return choices;
  }

  /** The row's candidate answer words; null when the row has none; a string saying why they are unusable. */
  private choiceWords(src: ChoiceSource, raw: (field: string) => JsonValue | undefined): string[] | null | string {
    if (src === 'labels') return [...new Set(Object.values(this.compiled.mapping.answer!.labels!))];
    if ('list' in src) {
      const v = raw(src.list);
      if (v === undefined || v === null) return null;
      if (!Array.isArray(v) || v.length < 2 || !v.every((c) => typeof c === 'string' && c !== '')) {
        return `"${src.list}" must be a list of at least two non-empty strings`;
      }
      return v as string[];
    }
    const text = raw(src.answerFormat);
    const words = typeof text === 'string' ? answerFormatWords(text) : [];
    return words.length >= 2 ? words : `no "Answer format: a/b" line with two or more answers in "${src.answerFormat}"`;
  }
}
