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
export type RowIssueKind = 'missing-field' | 'empty-completion' | 'unknown-label' | 'bad-choices' | 'bad-messages' | 'no-task';

export type RenderResult =
  | { ok: true; task: string; example: DataExample }
  | { ok: false; kind: RowIssueKind; message: string };

const ANSWER_FORMAT = 'Answer format:';

/** The answers listed after the last "Answer format:" up to the line end ("true/false" → [true, false]). */
function answerFormatWords(text: string): string[] {
  const at = text.lastIndexOf(ANSWER_FORMAT);
  if (at < 0) return [];
  const end = text.indexOf('\n', at);
  return text.slice(at + ANSWER_FORMAT.length, end < 0 ? text.length : end).split('/').map((w) => w.trim()).filter((w) => w !== '');
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
    if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof m.role !== 'string' || typeof m.content !== 'string') {
      return `every message needs a string "role" and "content" (got ${kindOf(m)} ${JSON.stringify(m).slice(0, 60)})`;
    }
    messages.push({ role: m.role, content: m.content });
  }
  const last = messages[messages.length - 1];
  if (last.role !== 'assistant') return `the last message is the "${last.role}"'s; it must be the assistant's reply`;
  return { turns: messages.slice(0, -1), reply: last.content };
}

export class RowRenderer {
  constructor(private readonly compiled: CompiledMapping, private readonly chatTemplate?: ChatTemplate) {
    if (compiled.mapping.format === 'chat' && !chatTemplate) {
      throw new DatasetError('the mapping uses the chat format, but the model has no chat template; use the template format.');
    }
  }

  render(row: TableRow): RenderResult {
    const { mapping, source } = this.compiled;
    const fail = (kind: RowIssueKind, message: string): RenderResult => ({ ok: false, kind, message });
    const raw = (field: string): JsonValue | undefined => {
      const col = source.get(field) ?? field;
      return Object.hasOwn(row.values, col) ? row.values[col] : undefined;
    };
    const overrides = new Map<string, string>();
    const lookup = (field: string): string | undefined => {
      const o = overrides.get(field);
      if (o !== undefined) return o;
      const v = raw(field);
      return v === undefined || v === null ? undefined : textOf(v);
    };

    let task = mapping.taskName;
    if (mapping.taskColumn !== null) {
      const t = lookup(mapping.taskColumn)?.trim();
      if (!t) return fail('no-task', `no task name in column "${mapping.taskColumn}"`);
      task = Object.hasOwn(mapping.taskNames, t) ? mapping.taskNames[t] : t;
    }

    let chat: Chat | null = null;
    if (mapping.messages !== null) {
      const read = readChat(raw(mapping.messages));
      if (typeof read === 'string') return fail('bad-messages', read);
      chat = read;
      overrides.set(REPLY_FIELD, chat.reply);
      overrides.set(CONVERSATION_FIELD, chat.turns.map((m) => `${capitalize(m.role)}: ${m.content}`).join('\n'));
    }

    // The answer: its label mapped to the answer word, which then stands in for the field everywhere.
    const { answer } = mapping;
    let word: string | undefined;
    if (answer) {
      const value = lookup(answer.field);
      if (value === undefined) return fail('missing-field', `no value for "${answer.field}"`);
      // Labels are looked up trimmed ("1 " is label 1); an unmapped value keeps its spacing (" woof.").
      const { labels } = answer;
      word = labels === null ? value : Object.hasOwn(labels, value.trim()) ? labels[value.trim()] : undefined;
      if (word === undefined) {
        const known = Object.keys(answer.labels!);
        return fail('unknown-label', `label ${JSON.stringify(value.trim())} is not in the label map ` +
          `(${known.slice(0, 10).join(', ')}${known.length > 10 ? ', …' : ''})`);
      }
      overrides.set(answer.field, word);
    }

    const completionOf = (): string | RenderResult => {
      const r = renderTemplate(this.compiled.completion, lookup);
      if ('missing' in r) return fail('missing-field', `no value for {${r.missing}}`);
      return mapping.format === 'chat' ? r.text.trimStart() : r.text;
    };
    const completion = completionOf();
    if (typeof completion !== 'string') return completion;
    if (completion.trim() === '') return fail('empty-completion', 'the completion is empty');

    let prompt: string;
    if (mapping.format === 'chat') {
      let messages: ChatMessage[];
      if (chat) messages = chat.turns;
      else {
        const r = renderTemplate(this.compiled.prompt, lookup);
        if ('missing' in r) return fail('missing-field', `no value for {${r.missing}}`);
        messages = [{ role: 'user', content: r.text }];
      }
      if (mapping.system !== '' && messages[0]?.role !== 'system') messages = [{ role: 'system', content: mapping.system }, ...messages];
      try {
        prompt = this.chatTemplate!.apply(messages, { addGenerationPrompt: true });
      } catch (e) {
        return fail('bad-messages', (e as Error).message);
      }
    } else {
      const r = renderTemplate(this.compiled.prompt, lookup);
      if ('missing' in r) return fail('missing-field', `no value for {${r.missing}}`);
      prompt = r.text;
    }

    const example: DataExample = { prompt, completion, line: row.line };
    if (answer?.choices && this.compiled.choicesApply) {
      const words = this.choiceWords(answer.choices, raw);
      if (typeof words === 'string') return fail('bad-choices', words);
      if (words !== null) {
        if (!words.some((w) => w.trim() === word!.trim())) {
          return fail('bad-choices', `the answer ${JSON.stringify(word)} is not one of the choices (${words.join(', ')})`);
        }
        const choices: string[] = [];
        for (const w of words) {
          overrides.set(answer.field, w);
          const c = completionOf();
          if (typeof c !== 'string') return c;
          choices.push(c);
        }
        example.choices = choices;
      }
    }
    return { ok: true, task, example };
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
