// One line chart (recharts) with a title and an accessible summary. Animations are off: the data changes every
// iteration and animating each update would keep the main thread busy.

import { memo, useEffect, useRef, useState } from 'react';
import { CartesianGrid, Legend, Line as RLine, LineChart, Tooltip, XAxis, YAxis } from 'recharts';
import type { ChartRow } from './series';
import { PALETTE } from './series';

export interface ChartLine {
  key: string;
  label: string;
  /** The mean line is drawn thicker and dashed. */
  emphasis?: boolean;
}

interface Props {
  title: string;
  rows: ChartRow[];
  lines: ChartLine[];
  testId?: string;
  yLabel?: string;
  log?: boolean;
  /**
   * Milliseconds by which this chart's first draw and each redraw trail the data. Drawing a recharts chart
   * costs tens of milliseconds of main-thread work; charts that change together get different delays so each
   * draws in its own short task instead of all in one long one.
   */
  stagger?: number;
}

const HEIGHT = 220;

const fmt = (v: unknown) =>
  typeof v === 'number' ? (Math.abs(v) < 1e-2 && v !== 0 ? v.toExponential(2) : v.toFixed(3)) : String(v);

function LineChartCardImpl({ title, rows: latest, lines, testId, yLabel, log, stagger = 0 }: Props) {
  const [rows, setRows] = useState<ChartRow[] | null>(stagger === 0 ? latest : null);
  // The width comes from a ResizeObserver (asynchronous, after layout) rather than recharts' ResponsiveContainer,
  // which measures synchronously and forces a layout on every redraw.
  const box = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(0);
  const drawn = rows !== null;
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const observer = new ResizeObserver(([entry]) => setWidth(Math.floor(entry.contentRect.width)));
    observer.observe(el);
    return () => observer.disconnect();
  }, [drawn]);
  useEffect(() => {
    if (rows === latest) return;
    const timer = setTimeout(() => setRows(latest), stagger);
    return () => clearTimeout(timer);
  }, [rows, latest, stagger]);
  if (rows === null) {
    return (
      <figure className="chart" data-testid={testId} data-points={0}>
        <figcaption>{title}</figcaption>
        <div style={{ height: HEIGHT }} />
      </figure>
    );
  }
  const last = rows.at(-1);
  const summary = last
    ? `${title} at iteration ${last.iteration}: ${lines.map((l) => `${l.label} ${fmt(last[l.key] ?? '–')}`).join(', ')}`
    : `${title}: no points yet`;
  return (
    <figure
      className="chart"
      ref={box}
      data-testid={testId}
      data-points={rows.length}
      aria-label={summary}
      data-first={JSON.stringify(rows[0] ?? null)}
      data-last={JSON.stringify(last ?? null)}
    >
      <figcaption>{title}</figcaption>
      {rows.length === 0 && <p className="muted overlay">No points yet.</p>}
      {width > 0 ? (
        <LineChart width={width} height={HEIGHT} data={rows} margin={{ top: 8, right: 16, bottom: 4, left: 4 }}>
          <CartesianGrid strokeOpacity={0.2} vertical={false} />
          <XAxis
            dataKey="iteration"
            type="number"
            domain={['dataMin', 'dataMax']}
            allowDecimals={false}
            fontSize={12}
          />
          <YAxis
            fontSize={12}
            width={56}
            scale={log ? 'log' : 'auto'}
            domain={['auto', 'auto']}
            tickFormatter={fmt}
            label={yLabel ? { value: yLabel, angle: -90, position: 'insideLeft', fontSize: 12 } : undefined}
          />
          <Tooltip formatter={(v) => fmt(v)} labelFormatter={(x) => `iteration ${x}`} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {lines.map((l, i) => (
            <RLine
              key={l.key}
              dataKey={l.key}
              name={l.label}
              dot={false}
              isAnimationActive={false}
              connectNulls
              stroke={l.emphasis ? 'currentColor' : PALETTE[i % PALETTE.length]}
              strokeWidth={l.emphasis ? 2.5 : 1.5}
              strokeDasharray={l.emphasis ? '6 3' : undefined}
            />
          ))}
        </LineChart>
      ) : (
        <div style={{ height: HEIGHT }} />
      )}
    </figure>
  );
}

/**
 * Redraws only when what it shows changes. Rows are rebuilt from the metrics on every event, so identity says
 * nothing: a new point always changes the last row (the held-out chart, for one, changes only at evaluations).
 */
const sameRows = (a: ChartRow[], b: ChartRow[]) =>
  a.length === b.length && JSON.stringify(a.at(-1)) === JSON.stringify(b.at(-1));

export const LineChartCard = memo(
  LineChartCardImpl,
  (prev, next) =>
    sameRows(prev.rows, next.rows) &&
    JSON.stringify(prev.lines) === JSON.stringify(next.lines) &&
    prev.title === next.title &&
    prev.testId === next.testId &&
    prev.stagger === next.stagger &&
    prev.log === next.log &&
    prev.yLabel === next.yLabel,
);

/**
 * Draws one small chart off-screen once the page is idle, then removes it: the first recharts draw pays for
 * compiling its code (V8 compiles functions lazily, on first call), and that is better done before training
 * starts than on its first point.
 */
export function ChartWarmup() {
  const [done, setDone] = useState(false);
  const [go, setGo] = useState(false);
  useEffect(() => {
    const idle = globalThis.requestIdleCallback ?? ((f: () => void) => setTimeout(f, 500));
    idle(() => setGo(true));
  }, []);
  useEffect(() => {
    if (go && !done) setTimeout(() => setDone(true), 0);
  }, [go, done]);
  if (!go || done) return null;
  const rows = [
    { iteration: 1, a: 1 },
    { iteration: 2, a: 0.5 },
  ];
  return (
    <div aria-hidden="true" style={{ position: 'absolute', left: -10_000, top: 0 }}>
      <LineChart width={300} height={120} data={rows}>
        <CartesianGrid vertical={false} />
        <XAxis dataKey="iteration" type="number" />
        <YAxis />
        <Tooltip />
        <Legend />
        <RLine dataKey="a" dot={false} isAnimationActive={false} />
      </LineChart>
    </div>
  );
}
