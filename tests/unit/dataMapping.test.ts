// From rows to examples: templates ({field}, filters, optional sections, escapes, errors), label → answer-word
// maps and the choices they give, task-column splitting, duplicates (dropped or kept, reported either way),
// over-long examples by the real stories260K tokenizer (truncated or skipped), the chat format through a
// Jinja chat template, chat-message rows, mapping errors, preview, and that everything is plain JSON.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DatasetError,
  type FieldMapping,
  type Table,
  applyMapping,
  compileMapping,
  detectMapping,
  formatReport,
  mappingForSchema,
  preview,
  readTable,
} from '../../src/data';
import { parseTemplate, renderTemplate } from '../../src/data/template';
import { type ByteSource, fileSource } from '../../src/io/byteSource';
import { ChatTemplate } from '../../src/io/chatTemplate';
import { readLlama2cTokenizer } from '../../src/io/llama2c';
import { ScoredBpeTokenizer } from '../../src/io/llama2cTokenizer';
import { tokenizeExample } from '../../src/data/tasks';
import { sharedPath } from '../helpers/shared';

const table = (name: string, text: string): Table => readTable(name, new TextEncoder().encode(text));
const render = (src: string, values: Record<string, string>) => renderTemplate(parseTemplate(src), (f) => values[f]);

describe('templates', () => {
  it('fills fields, applies filters and optional sections, and keeps escaped braces', () => {
    expect(render('Q: {question}\nA:', { question: 'why?' })).toEqual({ text: 'Q: why?\nA:' });
    expect(render(' {answer|final}', { answer: 'She has 3 + 4 = 7.\n#### 7 ' })).toEqual({ text: ' 7' });
    expect(render('{answer|final}', { answer: 'no mark' })).toEqual({ text: 'no mark' });
    expect(render('[{x|trim}]', { x: '  padded \n' })).toEqual({ text: '[padded]' });
    const alpaca = '### Instruction:\n{instruction}\n\n{?input}### Input:\n{input}\n\n{/input}### Response:\n';
    expect(render(alpaca, { instruction: 'Add.', input: '' })).toEqual({
      text: '### Instruction:\nAdd.\n\n### Response:\n',
    });
    expect(render(alpaca, { instruction: 'Add.', input: '1 2' })).toEqual({
      text: '### Instruction:\nAdd.\n\n### Input:\n1 2\n\n### Response:\n',
    });
    expect(render('{{"json": {#1 String}}}', { '#1 String': 'x' })).toEqual({ text: '{"json": x}' });
    expect(render('{a} {b}', { a: '1' })).toEqual({ missing: 'b' });
    expect(parseTemplate('{a}{?b}{c}{/b}{a|trim}').fields).toEqual(['a', 'b', 'c']);
  });

  it('names the position of a syntax error', () => {
    expect(() => parseTemplate('Q: {question')).toThrow(/character 4: a "\{" without its "\}"/);
    expect(() => parseTemplate('a } b')).toThrow(/character 3: a lone "\}"/);
    expect(() => parseTemplate('{}')).toThrow(/names no field/);
    expect(() => parseTemplate('{x|upper}')).toThrow(/unknown filter "upper" \(known: final, trim\)/);
    expect(() => parseTemplate('{?x} text')).toThrow(/"\{\?x\}" is never closed/);
    expect(() => parseTemplate('{?x}{/y}')).toThrow(/"\{\/y\}" closes no open/);
    expect(() => parseTemplate('{a {b}}')).toThrow(DatasetError);
  });
});

describe('label maps and choices', () => {
  const sst = table('sst.tsv', 'sentence\tlabel\ngreat fun .\t1\ndull .\t0\nmeh .\t2\nodd .\tconstructor\n');

  it('maps SST-2 labels to answer words, offers them as choices, and reports an unknown label with its line', () => {
    const m = detectMapping(sst);
    expect(m).toMatchObject({
      schema: 'sentiment',
      completion: ' {label}',
      answer: { field: 'label', choices: 'labels' },
    });
    // Label 2 is not in SST-2's map, so the map falls back to the labels seen; edit it to SST-2's.
    const edited: FieldMapping = { ...m, answer: { ...m.answer!, labels: { 0: 'negative', 1: 'positive' } } };
    const { tasks, report } = applyMapping(sst, edited);
    expect(tasks[0].examples).toEqual([
      {
        prompt: 'Review: great fun .\nSentiment:',
        completion: ' positive',
        choices: [' negative', ' positive'],
        line: 2,
      },
      { prompt: 'Review: dull .\nSentiment:', completion: ' negative', choices: [' negative', ' positive'], line: 3 },
    ]);
    expect(report.issues).toEqual([
      { line: 4, kind: 'unknown-label', action: 'skipped', message: 'label "2" is not in the label map (0, 1)' },
      // A label named like an Object property is still just an unknown label.
      {
        line: 5,
        kind: 'unknown-label',
        action: 'skipped',
        message: 'label "constructor" is not in the label map (0, 1)',
      },
    ]);
  });

  it('uses a known map when the labels fit it, and renders choices through the completion template', () => {
    const rte = table(
      'rte.jsonl',
      '{"premise": "p", "hypothesis": "h", "label": "entailment"}\n{"premise": "q", "hypothesis": "i", "label": "not_entailment"}\n',
    );
    const m = detectMapping(rte);
    expect(m.answer!.labels).toEqual({ entailment: 'yes', not_entailment: 'no' });
    const { tasks } = applyMapping(rte, { ...m, completion: ' The answer is {label}.' });
    expect(tasks[0].examples[1]).toMatchObject({
      completion: ' The answer is no.',
      choices: [' The answer is yes.', ' The answer is no.'],
    });
    // A completion that does not use the answer field gets no choices.
    expect(applyMapping(rte, { ...m, completion: ' {hypothesis}' }).tasks[0].examples[0].choices).toBeUndefined();
  });

  it('reads per-row choices from a list field or an "Answer format:" line, and rejects answers outside them', () => {
    const pc = table(
      'pc.jsonl',
      '{"prompt": "a", "completion": " x", "choices": [" x", " y"]}\n{"prompt": "b", "completion": " z", "choices": [" x", " y"]}\n' +
        '{"prompt": "c", "completion": " x", "choices": "x"}\n{"prompt": "d", "completion": " q"}\n',
    );
    const { tasks, report } = applyMapping(pc, detectMapping(pc));
    expect(tasks[0].examples).toEqual([
      { prompt: 'a', completion: ' x', choices: [' x', ' y'], line: 1 },
      { prompt: 'd', completion: ' q', line: 4 },
    ]);
    expect(report.issues.map((i) => [i.line, i.kind, i.message])).toEqual([
      [2, 'bad-choices', 'the answer " z" is not one of the choices ( x,  y)'],
      [3, 'bad-choices', '"choices" must be a list of at least two non-empty strings'],
    ]);
    const la = table(
      'la.json',
      JSON.stringify([
        {
          instruction: 'Q?\n\nAnswer format: answer1/answer2/answer3',
          input: '',
          output: 'the correct answer is answer2',
          answer: 'answer2',
        },
        {
          instruction: 'R?\n\nAnswer format: true/false',
          input: '',
          output: 'the correct answer is true',
          answer: 'true',
        },
      ]),
    );
    const ex = applyMapping(la, detectMapping(la)).tasks[0].examples;
    expect(ex.map((e) => [e.completion, e.choices])).toEqual([
      ['answer2', ['answer1', 'answer2', 'answer3']],
      ['true', ['true', 'false']],
    ]);
    expect(applyMapping(la, mappingForSchema(la, 'llm-adapters-output')).tasks[0].examples[0]).toEqual({
      prompt: '### Instruction:\nQ?\n\nAnswer format: answer1/answer2/answer3\n\n### Response:\n',
      completion: 'the correct answer is answer2',
      line: 1,
    });
  });
});

describe('tasks, duplicates and reports', () => {
  const mixed = table(
    'mixed.csv',
    'task,question,answer\nmath,1+1?,2\ngeo,Capital of France?,Paris\nmath,2+2?,4\n,orphan?,x\n' +
      'math,1+1?,2\ngeo,Capital of Peru?,Lima\n',
  );

  it('splits a file by its task column, renames tasks, and reports rows without a task', () => {
    const m = detectMapping(mixed);
    expect([m.schema, m.taskColumn, m.taskName]).toEqual(['question-answer', 'task', 'mixed']);
    const { tasks, report } = applyMapping(mixed, { ...m, taskNames: { geo: 'capitals' } });
    expect(tasks.map((t) => [t.name, t.examples.map((e) => e.line)])).toEqual([
      ['math', [2, 4]],
      ['capitals', [3, 7]],
    ]);
    expect(report.issues.map((i) => [i.line, i.kind, i.action])).toEqual([
      [5, 'no-task', 'skipped'],
      [6, 'duplicate', 'skipped'],
    ]);
    expect(report).toMatchObject({ rows: 6, used: 4, skipped: 2, duplicates: 1, duplicatePolicy: 'drop' });
    expect(report.tasks).toEqual([
      { name: 'math', examples: 2, withChoices: 0 },
      { name: 'capitals', examples: 2, withChoices: 0 },
    ]);
  });

  it('keeps duplicates when asked, still reporting them', () => {
    const { tasks, report } = applyMapping(mixed, detectMapping(mixed), { duplicates: 'keep' });
    expect(tasks[0].examples.map((e) => e.line)).toEqual([2, 4, 6]);
    expect(report.issues[1]).toEqual({
      line: 6,
      kind: 'duplicate',
      action: 'kept',
      message: 'same prompt and completion as line 2',
    });
    expect([report.used, report.skipped, report.duplicates]).toEqual([5, 1, 1]);
    expect(formatReport(report)).toMatch(
      /^mixed\.csv: CSV with header, schema question-answer; 6 rows: 5 used, 1 skipped, 1 duplicate kept \[no-task 1, duplicate 1\]; tasks: math 3, geo 2\n {2}line 5: no-task, skipped/,
    );
  });

  it('fails as a whole when the mapping cannot fit the file', () => {
    const m = detectMapping(mixed);
    expect(() => compileMapping(mixed, { ...m, prompt: '{question} {hint}' })).toThrow(
      /mixed\.csv: the prompt template's field "hint" is not a column of the file \(columns: task, question, answer\)/,
    );
    expect(() => compileMapping(mixed, { ...m, columns: ['a', 'b'] })).toThrow(/names 2 columns but the file has 3/);
    expect(() => compileMapping(mixed, { ...m, taskColumn: null, taskName: ' ' })).toThrow(/the task needs a name/);
    expect(() => mappingForSchema(mixed, 'nli')).toThrow(
      /schema "nli" needs the columns premise, hypothesis, label; the file has task, question, answer/,
    );
    expect(() => mappingForSchema(mixed, 'nope' as never)).toThrow(/unknown schema "nope"/);
    expect(() => readTable('one.csv', new TextEncoder().encode('text\na\nb\n'))).not.toThrow();
    expect(() => detectMapping(table('one.csv', 'text\na\nb\n'))).toThrow(/only one column \("text"\)/);
  });

  it('previews the first rows as they would train, issues included', () => {
    expect(preview(mixed, detectMapping(mixed), 4)).toEqual([
      { line: 2, task: 'math', prompt: 'Question: 1+1?\nAnswer:', completion: ' 2' },
      { line: 3, task: 'geo', prompt: 'Question: Capital of France?\nAnswer:', completion: ' Paris' },
      { line: 4, task: 'math', prompt: 'Question: 2+2?\nAnswer:', completion: ' 4' },
      { line: 5, issue: { kind: 'no-task', message: 'no task name in column "task"' } },
    ]);
  });

  it('is plain JSON throughout (the worker posts it, IndexedDB keeps it)', () => {
    const m = detectMapping(mixed);
    const applied = applyMapping(mixed, m);
    for (const v of [mixed, m, applied.tasks, applied.report]) expect(JSON.parse(JSON.stringify(v))).toEqual(v);
  });
});

describe("over-long examples by the model's tokenizer (stories260K)", () => {
  let src: ByteSource;
  let tok: ScoredBpeTokenizer;
  beforeAll(async () => {
    src = await fileSource(sharedPath('models/stories260K/tok512.bin'));
    tok = new ScoredBpeTokenizer(await readLlama2cTokenizer(src, 512));
  });
  afterAll(() => src.close?.());

  const qa = table(
    'qa.jsonl',
    [
      { question: 'Who?', answer: 'Lily.' },
      {
        question:
          'Once upon a time there was a little girl named Lily who loved to play outside in the park every day.',
        answer: 'She was happy.',
      },
      { question: 'Why?', answer: 'Because the sun was warm.' },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );

  it('counts tokens as training tokenizes them, then truncates or skips by choice', () => {
    const m = detectMapping(qa);
    const all = applyMapping(qa, m).tasks[0].examples;
    const lengths = all.map((e) => {
      const t = tokenizeExample(tok, e, { maxLength: 10_000 });
      return t.prompt.length + t.completion.length;
    });
    const maxLength = 40;
    expect(lengths.filter((n) => n > maxLength).length).toBe(1);
    const long = lengths.findIndex((n) => n > maxLength);

    const truncated = applyMapping(qa, m, { tokens: { tokenizer: tok, maxLength, policy: 'truncate' } });
    expect(truncated.tasks[0].examples).toEqual(all);
    expect(truncated.report).toMatchObject({
      used: 3,
      skipped: 0,
      truncated: 1,
      maxLength: { tokens: 40, policy: 'truncate', longest: lengths[long] },
    });
    expect(truncated.report.issues).toEqual([
      {
        line: long + 1,
        kind: 'too-long',
        action: 'truncated',
        message: `${lengths[long]} tokens, over the maximum of 40`,
      },
    ]);
    // Training then cuts it to the maximum.
    const t = tokenizeExample(tok, all[long], { maxLength });
    expect(t.prompt.length + t.completion.length).toBe(maxLength);

    const skipped = applyMapping(qa, m, { tokens: { tokenizer: tok, maxLength, policy: 'skip' } });
    expect(skipped.tasks[0].examples.map((e) => e.line)).toEqual([1, 2, 3].filter((l) => l !== long + 1));
    expect(skipped.report).toMatchObject({ used: 2, skipped: 1, truncated: 0, counts: { 'too-long': 1 } });
    // Without EOS the same example is one token shorter.
    const noEos = applyMapping(qa, m, { tokens: { tokenizer: tok, maxLength, policy: 'skip', eos: false } });
    expect(noEos.report.maxLength!.longest).toBe(lengths[long] - 1);
  });
});

describe('chat format', () => {
  const chatml = new ChatTemplate(
    '{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}' +
      '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}',
  );
  const chats = table(
    'chat.jsonl',
    [
      {
        messages: [
          { role: 'user', content: 'Hi!' },
          { role: 'assistant', content: 'Hello.' },
        ],
      },
      {
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: '2+2?' },
          { role: 'assistant', content: '4' },
          { role: 'user', content: 'And 3+3?' },
          { role: 'assistant', content: '6' },
        ],
      },
      { messages: [{ role: 'user', content: 'Anyone?' }] },
      {
        messages: [
          { role: 'user', content: 'a' },
          { role: 'assistant', content: 'b' },
          { role: 'user', content: 'c' },
        ],
      },
    ]
      .map((r) => JSON.stringify(r))
      .join('\n'),
  );

  it("turns chat rows into a transcript prompt, or the model's chat template with the assistant turn opened", () => {
    const m = detectMapping(chats);
    expect([m.schema, m.messages]).toEqual(['messages', 'messages']);
    const plain = applyMapping(chats, m);
    expect(plain.tasks[0].examples.map((e) => [e.prompt, e.completion])).toEqual([
      ['User: Hi!\nAssistant:', ' Hello.'],
      ['System: Be brief.\nUser: 2+2?\nAssistant: 4\nUser: And 3+3?\nAssistant:', ' 6'],
    ]);
    expect(plain.report.issues.map((i) => [i.line, i.kind])).toEqual([
      [3, 'bad-messages'],
      [4, 'bad-messages'],
    ]);
    const chat = applyMapping(chats, { ...m, format: 'chat' }, { chatTemplate: chatml });
    expect(chat.tasks[0].examples[0]).toEqual({
      prompt: '<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n',
      completion: 'Hello.',
      line: 1,
    });
  });

  it("wraps a templated prompt as the user's message, with an optional system message", () => {
    const qa = table('q.csv', 'question,answer\nCapital of France?,Paris\n');
    const m = { ...detectMapping(qa), format: 'chat' as const, system: 'Answer in one word.' };
    expect(applyMapping(qa, m, { chatTemplate: chatml }).tasks[0].examples[0]).toEqual({
      prompt:
        '<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user\nQuestion: Capital of France?\nAnswer:<|im_end|>\n' +
        '<|im_start|>assistant\n',
      completion: 'Paris',
      line: 2,
    });
    expect(() => applyMapping(qa, m)).toThrow(/uses the chat format, but the model has no chat template/);
  });
});
