// results.md: per examples-per-task, one table per view (shared adapter / after test-time adaptation) and
// metric, rows = base + each method and setting, columns = tasks and their mean, cells "mean ± sd" over seeds.

import { MEAN_TASK } from '../train/metrics';
import type { GroupSummary, Scored, Side, Stat } from './summary';

const METRIC_TEXT: Record<Scored, { title: string; percent: boolean; lower: boolean }> = {
  loss: { title: 'held-out loss (as training scores it)', percent: false, lower: true },
  loss_no_eos: { title: 'held-out loss without the EOS target', percent: false, lower: true },
  answer_accuracy: { title: 'answer accuracy', percent: true, lower: false },
  choice_accuracy: { title: 'choice accuracy (multiple-choice tasks)', percent: true, lower: false },
};

const SIDE_TEXT: Record<Side, string> = {
  shared: 'Shared adapter as it is',
  adapted: 'After test-time adaptation (inner steps on k training examples of the task)',
};

export function formatStat(s: Stat | undefined, percent: boolean): string {
  if (!s || !Number.isFinite(s.mean)) return '–';
  const f = (v: number) => (percent ? (100 * v).toFixed(0) : v.toFixed(3));
  return s.n > 1 ? `${f(s.mean)} ± ${f(s.sd)}` : f(s.mean);
}

const label = (g: GroupSummary) =>
  g.method === 'base' ? 'base model' : g.setting === 'defaults' ? g.method : `${g.method} (${g.setting})`;

function table(groups: readonly GroupSummary[], side: Side, metric: Scored): string {
  const tasks = [...new Set(groups.flatMap((g) => Object.keys(g.scores[side][metric])))].filter((t) => t !== MEAN_TASK);
  const rows = groups.filter((g) => Object.keys(g.scores[side][metric]).length > 0);
  if (tasks.length === 0 || rows.length === 0) return '';
  const { percent } = METRIC_TEXT[metric];
  const head = `| method | seeds | ${tasks.join(' | ')} | mean |\n|---|---|${tasks.map(() => '---|').join('')}---|`;
  const body = rows.map(
    (g) =>
      `| ${label(g)} | ${g.seeds.length} | ${[...tasks, MEAN_TASK]
        .map((t) => formatStat(g.scores[side][metric][t], percent))
        .join(' | ')} |`,
  );
  return [`**${SIDE_TEXT[side]}: ${METRIC_TEXT[metric].title}${percent ? ' (%)' : ''}**`, '', head, ...body, ''].join(
    '\n',
  );
}

/** The whole results.md. */
export function studyMarkdown(
  groups: readonly GroupSummary[],
  o: { command: string; model: string; when: string },
): string {
  const parts = [
    `# Study results\n`,
    `Model: \`${o.model}\`. Written ${o.when} by:\n`,
    '```sh',
    o.command,
    '```',
    '',
    'Cells are mean ± sample sd over seeds; "mean" averages the tasks first. The base model is the same model without',
    'an adapter on the same held-out split. Plots: `curves-n<N>.svg` (held-out loss during training, band = ± sd),',
    '`final-n<N>.svg` (final answer accuracy per task).',
    '',
  ];
  for (const n of [...new Set(groups.map((g) => g.examplesPerTask))]) {
    const mine = groups.filter((g) => g.examplesPerTask === n);
    parts.push(`## ${n} training examples per task\n`);
    for (const side of ['shared', 'adapted'] as const) {
      for (const metric of ['loss', 'loss_no_eos', 'answer_accuracy', 'choice_accuracy'] as const) {
        const t = table(side === 'adapted' ? mine.filter((g) => g.method !== 'base') : mine, side, metric);
        if (t) parts.push(t);
      }
    }
  }
  return parts.join('\n');
}
