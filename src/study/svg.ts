// Dependency-free SVG plots for study results: lines with a ± sd band, and grouped bars.

const COLORS = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];
const W = 720;
const H = 400;
const M = { l: 60, r: 220, t: 36, b: 48 };

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (Math.abs(v) >= 100 || v === 0 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

function ticks(lo: number, hi: number, n = 5): number[] {
  const step = (hi - lo) / n;
  return Array.from({ length: n + 1 }, (_, i) => lo + i * step);
}

function frame(
  title: string,
  xLabel: string,
  yLabel: string,
  yLo: number,
  yHi: number,
  y: (v: number) => number,
): string[] {
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.l}" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text transform="translate(16 ${(M.t + H - M.b) / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`,
    `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/>`,
    `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>`,
  ];
  for (const v of ticks(yLo, yHi)) {
    out.push(
      `<line x1="${M.l - 4}" y1="${y(v)}" x2="${W - M.r}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${M.l - 6}" y="${y(v) + 4}" text-anchor="end">${fmt(v)}</text>`,
    );
  }
  return out;
}

function legend(names: readonly string[]): string[] {
  return names.flatMap((name, i) => [
    `<rect x="${W - M.r + 12}" y="${M.t + i * 18}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    `<text x="${W - M.r + 30}" y="${M.t + i * 18 + 10}">${esc(name)}</text>`,
  ]);
}

export interface Series {
  name: string;
  points: { x: number; y: number; sd: number }[];
}

/** Lines (mean) with a shaded ± sd band each. */
export function lineChart(title: string, xLabel: string, yLabel: string, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.y));
  const xs = all.map((p) => p.x);
  const [xLo, xHi] = [Math.min(0, ...xs), Math.max(1, ...xs)];
  const yHi = Math.max(1e-9, ...all.map((p) => p.y + p.sd)) * 1.05;
  const x = (v: number) => M.l + ((v - xLo) / (xHi - xLo)) * (W - M.l - M.r);
  const y = (v: number) => H - M.b - (v / yHi) * (H - M.t - M.b);
  const out = frame(title, xLabel, yLabel, 0, yHi, y);
  for (const v of ticks(xLo, xHi))
    out.push(`<text x="${x(v)}" y="${H - M.b + 16}" text-anchor="middle">${fmt(v)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p.y));
    if (pts.length === 0) return;
    const band = [
      ...pts.map((p) => `${x(p.x)},${y(p.y + p.sd)}`),
      ...pts.reverse().map((p) => `${x(p.x)},${y(Math.max(0, p.y - p.sd))}`),
    ];
    pts.reverse();
    out.push(
      `<polygon points="${band.join(' ')}" fill="${c}" fill-opacity="0.15" stroke="none"/>`,
      `<polyline points="${pts.map((p) => `${x(p.x)},${y(p.y)}`).join(' ')}" fill="none" stroke="${c}" stroke-width="2"/>`,
      ...pts.map((p) => `<circle cx="${x(p.x)}" cy="${y(p.y)}" r="2.5" fill="${c}"/>`),
    );
  });
  out.push(...legend(series.map((s) => s.name)), '</svg>');
  return out.join('\n');
}

/** Grouped bars: one group per category, one bar per series (value ± sd as a whisker). */
export function barChart(
  title: string,
  yLabel: string,
  categories: readonly string[],
  series: readonly { name: string; values: ({ y: number; sd: number } | null)[] }[],
  yMax?: number,
): string {
  const yHi = yMax ?? Math.max(1e-9, ...series.flatMap((s) => s.values.map((v) => (v ? v.y + v.sd : 0)))) * 1.05;
  const y = (v: number) => H - M.b - (Math.min(v, yHi) / yHi) * (H - M.t - M.b);
  const out = frame(title, '', yLabel, 0, yHi, y);
  const groupW = (W - M.l - M.r) / Math.max(1, categories.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  categories.forEach((cat, ci) => {
    out.push(`<text x="${M.l + groupW * (ci + 0.5)}" y="${H - M.b + 16}" text-anchor="middle">${esc(cat)}</text>`);
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!v || !Number.isFinite(v.y)) return;
      const x0 = M.l + groupW * ci + groupW * 0.1 + si * barW;
      out.push(
        `<rect x="${x0}" y="${y(v.y)}" width="${barW * 0.9}" height="${H - M.b - y(v.y)}" fill="${COLORS[si % COLORS.length]}"/>`,
      );
      if (v.sd > 0) {
        const cx = x0 + barW * 0.45;
        out.push(
          `<line x1="${cx}" y1="${y(v.y + v.sd)}" x2="${cx}" y2="${y(Math.max(0, v.y - v.sd))}" stroke="black"/>`,
        );
      }
    });
  });
  out.push(...legend(series.map((s) => s.name)), '</svg>');
  return out.join('\n');
}
