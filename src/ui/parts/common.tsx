// Small shared pieces: number and duration formatting, a labelled progress bar, an error box.

export { fmtBytes } from '../../util/format';

export function fmtCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} K`;
  return String(n);
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

export function Progress({
  label,
  done,
  total,
  testId,
}: {
  label: string;
  done: number;
  total: number | null;
  testId?: string;
}) {
  const pct = total ? Math.min(100, (100 * done) / total) : null;
  return (
    <div className="progress" data-testid={testId}>
      <progress max={total ?? undefined} value={total ? done : undefined} aria-label={label} />
      <span>
        {label}
        {pct !== null && ` — ${pct.toFixed(0)} %`}
      </span>
    </div>
  );
}

export function ErrorBox({ message, testId }: { message: string | null; testId?: string }) {
  if (!message) return null;
  return (
    <p className="error-box" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}
