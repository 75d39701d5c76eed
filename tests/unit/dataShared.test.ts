// The real dataset files in ../shared/data, read in place (never copied): each is detected as its schema,
// gives the row count its source documents, and yields exact prompts, completions and choices for rows
// looked up by hand, with the real line numbers (CSV records spanning lines, pretty-printed JSON elements).

import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type SchemaId, applyMapping, detectMapping, mappingForSchema, readTable } from '../../src/data';
import { sharedPath } from '../helpers/shared';

function load(relative: string, schema?: SchemaId) {
  const path = sharedPath(`data/${relative}`);
  const table = readTable(path.split('/').pop()!, new Uint8Array(readFileSync(path)));
  const mapping = schema ? mappingForSchema(table, schema) : detectMapping(table);
  const { tasks, report } = applyMapping(table, mapping);
  const examples = tasks.flatMap((t) => t.examples);
  return { table, mapping, report, examples, at: (line: number) => examples.find((e) => e.line === line)! };
}

describe('GLUE', () => {
  it('SST-2 dev: TSV with header, 872 rows, 0/1 → negative/positive', () => {
    const { table, mapping, report, examples, at } = load('glue/SST-2/dev.tsv');
    expect([table.format, table.header, table.columns, mapping.schema]).toEqual([
      'tsv',
      true,
      ['sentence', 'label'],
      'sentiment',
    ]);
    expect(mapping.answer!.labels).toEqual({ 0: 'negative', 1: 'positive' });
    expect([report.rows, report.used, report.skipped]).toEqual([872, 872, 0]);
    expect(at(2)).toEqual({
      prompt: "Review: it 's a charming and often affecting journey . \nSentiment:",
      completion: ' positive',
      choices: [' negative', ' positive'],
      line: 2,
    });
    expect(at(3).completion).toBe(' negative');
    expect(examples.filter((e) => e.completion === ' positive').length).toBe(444);
  });

  it("RTE train and val: JSONL {premise, hypothesis, label}, 2490 and 277 rows; train's two exact repeats reported", () => {
    const train = load('glue/RTE/train.jsonl');
    expect([train.table.format, train.mapping.schema, train.mapping.answer!.labels]).toEqual([
      'jsonl',
      'nli',
      { entailment: 'yes', not_entailment: 'no' },
    ]);
    expect([train.report.rows, train.report.used, train.report.duplicates]).toEqual([2490, 2488, 2]);
    expect(train.report.issues.map((i) => [i.line, i.message])).toEqual([
      [527, 'same prompt and completion as line 421'],
      [2242, 'same prompt and completion as line 460'],
    ]);
    expect(train.at(1)).toMatchObject({
      prompt:
        'Premise: No Weapons of Mass Destruction Found in Iraq Yet.\nHypothesis: Weapons of Mass ' +
        'Destruction Found in Iraq.\nDoes the premise entail the hypothesis?\nAnswer:',
      completion: ' no',
      choices: [' yes', ' no'],
    });
    const val = load('glue/RTE/val.jsonl');
    expect([val.report.rows, val.report.used]).toEqual([277, 277]);
  });

  it('CoLA: header-less TSV (source, label, mark, sentence), 527 + 516 rows', () => {
    const inDomain = load('glue/CoLA/in_domain_dev.tsv');
    expect([inDomain.table.header, inDomain.mapping.schema, inDomain.mapping.columns]).toEqual([
      false,
      'cola',
      ['source', 'label', 'original_mark', 'sentence'],
    ]);
    expect([inDomain.report.rows, inDomain.report.used]).toEqual([527, 527]);
    expect(inDomain.at(1)).toMatchObject({
      prompt:
        'Sentence: The sailors rode the breeze clear of the rocks.\nIs this sentence grammatically ' +
        'acceptable?\nAnswer:',
      completion: ' yes',
    });
    expect(inDomain.at(527)).toMatchObject({
      prompt: expect.stringContaining('Anson became a muscle bound.'),
      completion: ' no',
    });
    expect(inDomain.examples.filter((e) => e.completion === ' no').length).toBe(162);
    const outOfDomain = load('glue/CoLA/out_of_domain_dev.tsv');
    expect([outOfDomain.mapping.schema, outOfDomain.report.rows, outOfDomain.report.used]).toEqual(['cola', 516, 516]);
  });

  it('MRPC test: TSV with a BOM and a header, 1725 rows, quotes inside fields kept as text', () => {
    const { table, mapping, report, examples, at } = load('glue/MRPC/msr_paraphrase_test.tsv');
    expect([table.columns[0], mapping.schema, report.rows, report.used]).toEqual(['Quality', 'paraphrase', 1725, 1725]);
    expect(at(20).prompt).toBe(
      "Sentence 1: \"I'm delighted that David Chase has decided to give us another chapter in the great 'Sopranos' " +
        'saga," HBO chairman and chief executive Chris Albrecht said.\nSentence 2: "I\'m delighted that David Chase has decided to give ' +
        'us another chapter in the great Sopranos saga," said HBO Chairman Chris Albrecht in a statement.\nDo both sentences mean the ' +
        'same thing?\nAnswer:',
    );
    expect(examples.filter((e) => e.completion === ' yes').length).toBe(1147);
  });

  it('QNLI dev: TSV {index, question, sentence, label}, 5463 rows', () => {
    const { mapping, report, at } = load('glue/QNLI/dev.tsv');
    expect([mapping.schema, report.rows, report.used]).toEqual(['qnli', 5463, 5463]);
    expect(at(2)).toMatchObject({
      prompt: expect.stringMatching(/^Question: What came into force after the new constitution was herald\?\n/),
      completion: ' yes',
    });
  });
});

describe('LLM-Adapters commonsense sets (JSON lists of {instruction, input, output, answer})', () => {
  const counts: Record<string, number> = {
    'ARC-Challenge': 1172,
    'ARC-Easy': 2376,
    boolq: 3270,
    openbookqa: 500,
    piqa: 1838,
    social_i_qa: 1954,
    winogrande: 1267,
  };
  it('all seven: counts, per-row choices from "Answer format:", element lines', () => {
    for (const [name, n] of Object.entries(counts)) {
      const { mapping, report, examples } = load(`commonsense/${name}/test.json`);
      // Social IQa's test set repeats 19 questions word for word.
      const repeats = name === 'social_i_qa' ? 19 : 0;
      expect([name, mapping.schema, report.rows, report.used, report.duplicates], name).toEqual([
        name,
        'llm-adapters',
        n,
        n - repeats,
        repeats,
      ]);
      expect(report.tasks[0].withChoices, name).toBe(n - repeats);
      // Pretty-printed: six lines per element, the first element's "{" on line 2.
      expect(
        examples.slice(0, 3).map((e) => e.line),
        name,
      ).toEqual([2, 8, 14]);
    }
    const boolq = load('commonsense/boolq/test.json');
    expect(boolq.examples[1]).toMatchObject({ completion: 'true', choices: ['true', 'false'] });
    const piqa = load('commonsense/piqa/test.json');
    expect(piqa.examples[piqa.examples.length - 1]).toMatchObject({
      completion: 'solution1',
      choices: ['solution1', 'solution2'],
    });
    const output = load('commonsense/boolq/test.json', 'llm-adapters-output');
    expect(output.examples[0]).toEqual({
      prompt: boolq.examples[0].prompt,
      completion: 'the correct answer is false',
      line: 2,
    });
  });
});

describe('GSM8K (JSONL {question, answer}, final answer after ####)', () => {
  // Parsing speed is measured by `npm run bench -- parsing`, not asserted here (it flakes on a loaded machine).
  it('train 7473 and test 1319, as full rationale or final answer only', () => {
    const train = load('gsm8k/train.jsonl');
    expect([train.mapping.schema, train.report.rows, train.report.used]).toEqual(['gsm8k', 7473, 7473]);
    expect(train.at(1)).toEqual({
      prompt:
        'Question: Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips ' +
        'did Natalia sell altogether in April and May?\nAnswer:',
      completion:
        ' Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72',
      line: 1,
    });
    const final = load('gsm8k/train.jsonl', 'gsm8k-final');
    expect([final.at(1).completion, final.at(7473).completion, final.report.used]).toEqual([' 72', ' 50', 7473]);
    const test = load('gsm8k/test.jsonl', 'gsm8k-final');
    expect([test.report.rows, test.at(1319).completion]).toEqual([1319, ' 14']);
  });
});

describe('BIG-Bench-Hard (JSON {"canary", "examples": [{input, target}]})', () => {
  it('all 27 tasks; few-answer tasks become multiple choice', () => {
    const dir = sharedPath('data/bbh');
    const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBe(27);
    const sizes: Record<string, number> = { causal_judgement: 187, penguins_in_a_table: 146, snarks: 178 };
    for (const f of files) {
      const { table, mapping, report } = load(`bbh/${f}`);
      const name = f.replace('.json', '');
      expect([name, table.container, mapping.schema, report.rows, report.rows - report.used - report.skipped]).toEqual([
        name,
        'examples',
        'bbh',
        sizes[name] ?? 250,
        0,
      ]);
    }
    const bool = load('bbh/boolean_expressions.json');
    expect(bool.examples[0]).toEqual({
      prompt: 'not ( True ) and ( True ) is\nAnswer:',
      completion: ' False',
      choices: [' False', ' True'],
      line: 1,
    });
    expect(load('bbh/word_sorting.json').mapping.answer).toBeNull();
  });
});

describe('multiple choice', () => {
  it('MMLU: header-less CSV question,A,B,C,D,answer; records spanning lines keep their first line', () => {
    const algebra = load('mmlu/test/abstract_algebra_test.csv');
    expect([algebra.table.header, algebra.mapping.schema, algebra.mapping.columns, algebra.report.rows]).toEqual([
      false,
      'mmlu',
      ['question', 'A', 'B', 'C', 'D', 'answer'],
      100,
    ]);
    expect(algebra.at(1)).toEqual({
      prompt:
        'Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\nA. 0\nB. 4\nC. 2\nD. 6\nAnswer:',
      completion: ' B',
      choices: [' A', ' B', ' C', ' D'],
      line: 1,
    });
    const history = load('mmlu/test/high_school_european_history_test.csv');
    expect(history.report.rows).toBe(165);
    expect(history.examples.slice(0, 4).map((e) => e.line)).toEqual([1, 5, 10, 15]);
    expect([history.at(5).completion, history.examples[164].line, history.examples[164].completion]).toEqual([
      ' A',
      1106,
      ' C',
    ]);
  });

  it('MMLU: all 171 files (dev, val, test) are detected, 15856 rows, only real repeats skipped', () => {
    let rows = 0;
    let duplicates = 0;
    for (const split of ['dev', 'val', 'test']) {
      for (const f of readdirSync(sharedPath(`data/mmlu/${split}`))) {
        const { mapping, report } = load(`mmlu/${split}/${f}`);
        expect(mapping.schema, f).toBe('mmlu');
        expect(report.skipped, f).toBe(report.duplicates);
        rows += report.rows;
        duplicates += report.duplicates;
      }
    }
    expect([rows, duplicates]).toEqual([15856, 28]);
  });

  it('XCOPA: 11 languages × (500 test + 100 val); label 0/1 → choice 1/2', () => {
    let used = 0;
    for (const lang of readdirSync(sharedPath('data/xcopa')).filter((d) => !d.includes('.'))) {
      for (const f of readdirSync(sharedPath(`data/xcopa/${lang}`))) {
        const { mapping, report } = load(`xcopa/${lang}/${f}`);
        expect([f, mapping.schema, report.skipped]).toEqual([f, 'copa', 0]);
        used += report.used;
      }
    }
    expect(used).toBe(11 * 600);
    expect(load('xcopa/it/test.it.jsonl').at(1)).toEqual({
      prompt:
        "Premise: L'oggetto era incartato nella plastica bollata.\nWhat was the cause?\n1. Era delicato.\n2. Era piccolo.\nAnswer:",
      completion: ' 1',
      choices: [' 1', ' 2'],
      line: 1,
    });
  });

  it('CosmosQA valid: CSV with header, 2985 rows, label 0–3 → A–D', () => {
    const { table, mapping, report, at } = load('cosmosqa/valid.csv');
    expect([table.format, mapping.schema, report.rows, report.used]).toEqual(['csv', 'cosmosqa', 2985, 2985]);
    expect(at(2)).toMatchObject({
      prompt: expect.stringMatching(
        /\nQuestion: Why is this person asking about divorce \?\nA\. If he gets married in the church/,
      ),
      completion: ' B',
      choices: [' A', ' B', ' C', ' D'],
    });
    expect(at(2986)).toMatchObject({
      prompt: expect.stringContaining("Question: What is the narrator 's general outlook at the moment ?"),
      completion: ' A',
    });
  });
});

describe('instruction data', () => {
  it('Alpaca seed tasks: nested instances flattened, 175 rows, optional input section', () => {
    const { table, mapping, report, at } = load('instruct/alpaca_seed_tasks.jsonl');
    expect([table.flattened, mapping.schema, report.rows, report.used]).toEqual(['instances', 'alpaca', 175, 175]);
    expect(at(1).prompt).toMatch(
      /^### Instruction:\nIs there anything I can eat for a breakfast that doesn't include eggs.*\n\n### Response:\n$/,
    );
    expect(at(2)).toEqual({
      prompt:
        '### Instruction:\nWhat is the relation between the given pairs?\n\n### Input:\nNight : Day :: Right : Left\n\n### Response:\n',
      completion: 'The relation between the given pairs is that they are opposites.',
      line: 2,
    });
    const selfInstruct = load('instruct/self_instruct_user_oriented_instructions.jsonl');
    expect([selfInstruct.mapping.schema, selfInstruct.report.rows, selfInstruct.report.used]).toEqual([
      'alpaca',
      252,
      252,
    ]);
  });
});
