// The dataset schemas we recognise, each as the columns it needs (with the names real files use for them)
// and the mapping it suggests: prompt and completion templates, the answer field with its label → answer-word
// map, and where multiple-choice candidates come from. Detection (detect.ts) tries them in the order below,
// most specific first. The default templates are short and plain, because the models trained here are small.

import type { AnswerSpec, FieldMapping, SchemaId } from './mapping';
import type { JsonValue } from './table';

/** Read access to a table's values by (renamed) field, for the schemas' value checks. */
export interface ValueProbe {
  /** The file's name (a hint where columns alone are ambiguous: CoLA and SST-2 both have sentence, label). */
  file: string;
  rows: number;
  /** The first `n` values of `field` (missing ones skipped). */
  sample(field: string, n: number): JsonValue[];
  /** Distinct values of `field` as trimmed text, in first-seen order; null when there are more than `limit`. */
  distinct(field: string, limit: number): string[] | null;
}

/** Role → the table's column that plays it. */
export type Roles = Record<string, string>;

export type SchemaMapping = Pick<FieldMapping, 'prompt' | 'completion' | 'answer' | 'messages'>;

export interface SchemaDef {
  id: SchemaId;
  title: string;
  /** Role → accepted column names (lower case), tried in order. */
  needs: Record<string, string[]>;
  optional?: Record<string, string[]>;
  /** The layout of a header-less file: names for its columns, and a test on a sample of its rows. */
  headerless?: { names: string[]; fits: (rows: JsonValue[][]) => boolean };
  /** Only offered by name (a variant of another schema), never detected. */
  variant?: boolean;
  /** A test on the values, beyond the column names. */
  fits?: (probe: ValueProbe, roles: Roles) => boolean;
  build: (roles: Roles, probe: ValueProbe) => SchemaMapping;
}

const f = (name: string) => `{${name}}`;

/** Candidate label maps per schema, smallest first; the first covering every label seen is used. */
type LabelMaps = Record<string, string>[];

/** The label map for `field`: a known map covering the labels seen, else each label as its own word. */
export function inferLabels(
  probe: ValueProbe,
  field: string,
  known: LabelMaps,
  maxDistinct = 50,
): Record<string, string> | null {
  const seen = probe.distinct(field, maxDistinct);
  if (seen === null || seen.length === 0) return null;
  const map = known.find((m) => seen.every((v) => Object.hasOwn(m, v)));
  return map ? { ...map } : Object.fromEntries(seen.map((v) => [v, v]));
}

/** A classification answer: the label mapped to a word, every word a choice. */
function classify(probe: ValueProbe, field: string, known: LabelMaps): AnswerSpec | null {
  const labels = inferLabels(probe, field, known);
  return labels && { field, labels, choices: 'labels' };
}

/** Free answers count as classes when few distinct values repeat often (BBH's "(A)", yes/no questions). */
function fewClasses(probe: ValueProbe, field: string): AnswerSpec | null {
  const seen = probe.distinct(field, 20);
  if (seen === null || seen.length < 2 || probe.rows < 3 * seen.length) return null;
  return { field, labels: Object.fromEntries(seen.map((v) => [v, v])), choices: 'labels' };
}

const ALPACA_PROMPT = (r: Roles) =>
  `### Instruction:\n${f(r.instruction)}\n\n` +
  (r.input ? `{?${r.input}}### Input:\n${f(r.input)}\n\n{/${r.input}}` : '') +
  '### Response:\n';

const ANSWER_FORMAT = 'Answer format:';

const mentionsAnswerFormat = (probe: ValueProbe, field: string) =>
  probe.sample(field, 20).some((v) => typeof v === 'string' && v.includes(ANSWER_FORMAT));

const isChat = (v: JsonValue) =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((m) => typeof m === 'object' && m !== null && !Array.isArray(m) && 'role' in m && 'content' in m);

const YES_NO = { entailment: 'yes', not_entailment: 'no' };
const LETTERS = ['A', 'B', 'C', 'D'];

const gsm8kNeeds = { question: ['question'], answer: ['answer'] };
const gsm8kPrompt = (r: Roles) => `Question: ${f(r.question)}\nAnswer:`;
const llmAdaptersNeeds = { instruction: ['instruction'], input: ['input'], output: ['output'], answer: ['answer'] };

export const SCHEMAS: readonly SchemaDef[] = [
  {
    id: 'prompt-completion',
    title: 'Prompt / completion',
    needs: { prompt: ['prompt'], completion: ['completion'] },
    optional: { choices: ['choices'] },
    build: (r) => ({
      prompt: f(r.prompt),
      completion: f(r.completion),
      messages: null,
      answer: r.choices ? { field: r.completion, labels: null, choices: { list: r.choices } } : null,
    }),
  },
  {
    id: 'messages',
    title: 'Chat messages [{role, content}]',
    needs: { messages: ['messages', 'conversation', 'chat'] },
    fits: (p, r) => p.sample(r.messages, 5).some(isChat),
    build: (r) => ({
      prompt: '{conversation}\nAssistant:',
      completion: ' {reply}',
      answer: null,
      messages: r.messages,
    }),
  },
  {
    id: 'llm-adapters',
    title: 'LLM-Adapters {instruction, input, output, answer}: answer word',
    needs: llmAdaptersNeeds,
    build: (r, p) => ({
      prompt: ALPACA_PROMPT(r),
      completion: f(r.answer),
      messages: null,
      answer: mentionsAnswerFormat(p, r.instruction)
        ? { field: r.answer, labels: null, choices: { answerFormat: r.instruction } }
        : null,
    }),
  },
  {
    id: 'llm-adapters-output',
    title: 'LLM-Adapters: full output sentence',
    variant: true,
    needs: llmAdaptersNeeds,
    build: (r) => ({ prompt: ALPACA_PROMPT(r), completion: f(r.output), answer: null, messages: null }),
  },
  {
    id: 'alpaca',
    title: 'Alpaca {instruction, input, output}',
    needs: { instruction: ['instruction'], output: ['output', 'response'] },
    optional: { input: ['input', 'context'] },
    build: (r) => ({ prompt: ALPACA_PROMPT(r), completion: f(r.output), answer: null, messages: null }),
  },
  {
    id: 'gsm8k',
    title: 'GSM8K {question, answer}: full rationale',
    needs: gsm8kNeeds,
    fits: (p, r) => {
      const answers = p.sample(r.answer, 20);
      return (
        answers.length > 0 &&
        2 * answers.filter((v) => typeof v === 'string' && v.includes('####')).length >= answers.length
      );
    },
    build: (r) => ({ prompt: gsm8kPrompt(r), completion: ` ${f(r.answer)}`, answer: null, messages: null }),
  },
  {
    id: 'gsm8k-final',
    title: 'GSM8K: final answer only (after ####)',
    variant: true,
    needs: gsm8kNeeds,
    build: (r) => ({ prompt: gsm8kPrompt(r), completion: ` {${r.answer}|final}`, answer: null, messages: null }),
  },
  {
    id: 'cosmosqa',
    title: 'CosmosQA {context, question, answer0–3, label}',
    needs: {
      context: ['context'],
      question: ['question'],
      a0: ['answer0'],
      a1: ['answer1'],
      a2: ['answer2'],
      a3: ['answer3'],
      label: ['label'],
    },
    build: (r, p) => ({
      prompt:
        `${f(r.context)}\nQuestion: ${f(r.question)}\n` +
        ['a0', 'a1', 'a2', 'a3'].map((k, i) => `${LETTERS[i]}. ${f(r[k])}\n`).join('') +
        'Answer:',
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [{ 0: 'A', 1: 'B', 2: 'C', 3: 'D' }]),
    }),
  },
  {
    id: 'copa',
    title: 'COPA / XCOPA {premise, choice1, choice2, question, label}',
    needs: {
      premise: ['premise'],
      choice1: ['choice1'],
      choice2: ['choice2'],
      question: ['question'],
      label: ['label'],
    },
    build: (r, p) => ({
      prompt: `Premise: ${f(r.premise)}\nWhat was the ${f(r.question)}?\n1. ${f(r.choice1)}\n2. ${f(r.choice2)}\nAnswer:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [{ 0: '1', 1: '2' }]),
    }),
  },
  {
    id: 'nli',
    title: 'NLI {premise, hypothesis, label} (RTE, MNLI)',
    needs: { premise: ['premise'], hypothesis: ['hypothesis'], label: ['label', 'gold_label'] },
    build: (r, p) => ({
      prompt: `Premise: ${f(r.premise)}\nHypothesis: ${f(r.hypothesis)}\nDoes the premise entail the hypothesis?\nAnswer:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [
        YES_NO,
        { entailment: 'yes', neutral: 'maybe', contradiction: 'no' },
        { 0: 'yes', 1: 'no' },
        { 0: 'yes', 1: 'maybe', 2: 'no' },
      ]),
    }),
  },
  {
    id: 'qnli',
    title: 'QNLI {question, sentence, label}',
    needs: { question: ['question'], sentence: ['sentence'], label: ['label'] },
    build: (r, p) => ({
      prompt: `Question: ${f(r.question)}\nSentence: ${f(r.sentence)}\nDoes the sentence answer the question?\nAnswer:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [YES_NO, { 0: 'yes', 1: 'no' }]),
    }),
  },
  {
    id: 'paraphrase',
    title: 'Sentence pair {sentence1, sentence2, label} (MRPC, QQP)',
    needs: {
      s1: ['sentence1', '#1 string', 'question1', 'text1'],
      s2: ['sentence2', '#2 string', 'question2', 'text2'],
      label: ['label', 'quality', 'is_duplicate'],
    },
    build: (r, p) => ({
      prompt: `Sentence 1: ${f(r.s1)}\nSentence 2: ${f(r.s2)}\nDo both sentences mean the same thing?\nAnswer:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [
        { 0: 'no', 1: 'yes' },
        { not_equivalent: 'no', equivalent: 'yes' },
      ]),
    }),
  },
  {
    id: 'mmlu',
    title: 'Multiple choice {question, A, B, C, D, answer} (MMLU)',
    needs: { question: ['question'], A: ['a'], B: ['b'], C: ['c'], D: ['d'], answer: ['answer', 'target'] },
    headerless: {
      names: ['question', 'A', 'B', 'C', 'D', 'answer'],
      fits: (rows) =>
        rows.length > 0 &&
        rows.filter((row) => row.length === 6 && LETTERS.includes(String(row[5]).trim())).length >= 0.9 * rows.length,
    },
    build: (r, p) => ({
      prompt: `${f(r.question)}\n` + LETTERS.map((k) => `${k}. ${f(r[k])}\n`).join('') + 'Answer:',
      completion: ` ${f(r.answer)}`,
      messages: null,
      answer: classify(p, r.answer, [{ A: 'A', B: 'B', C: 'C', D: 'D' }]),
    }),
  },
  {
    id: 'bbh',
    title: 'BIG-Bench-Hard {input, target}',
    needs: { input: ['input'], target: ['target'] },
    build: (r, p) => ({
      prompt: `${f(r.input)}\nAnswer:`,
      completion: ` ${f(r.target)}`,
      messages: null,
      answer: fewClasses(p, r.target),
    }),
  },
  {
    id: 'question-answer',
    title: 'Question / answer',
    needs: { question: ['question', 'query'], answer: ['answer', 'response'] },
    build: (r, p) => ({
      prompt: gsm8kPrompt(r),
      completion: ` ${f(r.answer)}`,
      messages: null,
      answer: fewClasses(p, r.answer),
    }),
  },
  {
    id: 'cola',
    title: 'Acceptability {sentence, label} (CoLA)',
    needs: { sentence: ['sentence'], label: ['label'] },
    fits: (p) => /cola/i.test(p.file),
    headerless: {
      // CoLA's raw files: source, label, the original author's mark ('*' or empty), sentence.
      names: ['source', 'label', 'original_mark', 'sentence'],
      fits: (rows) => rows.length > 0 && rows.every((row) => row.length === 4 && (row[1] === '0' || row[1] === '1')),
    },
    build: (r, p) => ({
      prompt: `Sentence: ${f(r.sentence)}\nIs this sentence grammatically acceptable?\nAnswer:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [{ 0: 'no', 1: 'yes' }]),
    }),
  },
  {
    id: 'sentiment',
    title: 'Text classification {sentence, label} (SST-2)',
    needs: { text: ['sentence', 'text', 'review', 'content'], label: ['label', 'sentiment'] },
    build: (r, p) => ({
      prompt: `Review: ${f(r.text)}\nSentiment:`,
      completion: ` ${f(r.label)}`,
      messages: null,
      answer: classify(p, r.label, [{ 0: 'negative', 1: 'positive' }]),
    }),
  },
];
