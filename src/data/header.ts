// Does a CSV/TSV file start with a header? GLUE's SST-2 does (`sentence	label`), CoLA's raw files and MMLU's
// CSVs do not, and nothing in the file says so. The guess, in order: a cell that is a common dataset column
// name means a header; a first record with an empty or repeated cell is data (CoLA's third column is empty);
// otherwise Python's csv.Sniffer vote: for each column whose later values are all numbers, or all one length,
// a first cell that breaks the pattern votes for a header and one that fits votes against. The user can
// override the guess (readTable's `header` option).

/** Column names common in task datasets (lower case). Single letters are left out: MMLU answers are A–D. */
const KNOWN_COLUMNS = new Set([
  'prompt',
  'completion',
  'response',
  'instruction',
  'input',
  'output',
  'target',
  'targets',
  'question',
  'answer',
  'answers',
  'label',
  'labels',
  'sentence',
  'sentence1',
  'sentence2',
  'text',
  'text1',
  'text2',
  'review',
  'premise',
  'hypothesis',
  'context',
  'passage',
  'choices',
  'choice1',
  'choice2',
  'answer0',
  'answer1',
  'answer2',
  'answer3',
  'id',
  'idx',
  'index',
  'task',
  'task_name',
  'category',
  'subject',
  'quality',
  '#1 string',
  '#2 string',
  'question1',
  'question2',
  'messages',
  'system',
  'user',
  'assistant',
  'source',
  'title',
  'query',
  'document',
  'summary',
  'explanation',
  'rationale',
]);

const isNumber = (s: string) => {
  const t = s.trim();
  return t !== '' && Number.isFinite(Number(t));
};

/** Records to look at beyond the first; enough to see a column's pattern, few enough to stay cheap. */
const SAMPLE = 50;

export function looksLikeHeader(records: readonly string[][]): boolean {
  if (records.length === 0) return false;
  const first = records[0];
  const names = first.map((c) => c.trim().toLowerCase());
  if (names.some((c) => KNOWN_COLUMNS.has(c))) return true;
  if (names.some((c) => c === '') || new Set(names).size !== names.length) return false;
  const rest = records.slice(1, 1 + SAMPLE).filter((r) => r.length === first.length);
  if (rest.length === 0) return false;
  let votes = 0;
  first.forEach((head, col) => {
    const values = rest.map((r) => r[col]);
    if (values.every(isNumber)) votes += isNumber(head) ? -1 : 1;
    else if (values.every((v) => v.length === values[0].length)) votes += head.length === values[0].length ? -1 : 1;
  });
  return votes > 0;
}
