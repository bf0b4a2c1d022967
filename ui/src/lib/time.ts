// Time ranges as the API takes them: relative (`15m`, `24h`: that long ago) or absolute (RFC 3339).

export interface Range {
  from: string;
  to?: string;
}

export const RELATIVE: [string, string][] = [
  ['5m', 'Last 5 minutes'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['4h', 'Last 4 hours'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];

const UNIT: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 };

/** Milliseconds of a relative time (`15m`), or null. */
export function relMs(s: string): number | null {
  const m = /^(\d+)([smhdw])$/.exec(s.trim());
  return m ? Number(m[1]) * UNIT[m[2]] : null;
}

/** The range as absolute epoch milliseconds [from, to], resolved now. */
export function resolve(r: Range, now = Date.now()): [number, number] {
  const at = (s: string | undefined, dflt: number) => {
    if (!s || s === 'now') return dflt;
    const rel = relMs(s);
    if (rel !== null) return now - rel;
    const t = Date.parse(s);
    return Number.isNaN(t) ? dflt : t;
  };
  return [at(r.from, now - 3600e3), at(r.to, now)];
}

export function label(r: Range): string {
  const rel = RELATIVE.find(([k]) => k === r.from && !r.to);
  if (rel) return rel[1];
  if (relMs(r.from) !== null && !r.to) return `Last ${r.from}`;
  return `${fmtTime(r.from)} → ${r.to ? fmtTime(r.to) : 'now'}`;
}

/** A span for `timechart` giving about 60 buckets over the range. */
export function spanFor(ms: number): string {
  const steps: [number, string][] = [
    [1e3, '1s'], [5e3, '5s'], [10e3, '10s'], [30e3, '30s'], [60e3, '1m'], [300e3, '5m'], [600e3, '10m'],
    [1800e3, '30m'], [3600e3, '1h'], [3 * 3600e3, '3h'], [6 * 3600e3, '6h'], [12 * 3600e3, '12h'], [86400e3, '1d'], [7 * 86400e3, '1w'],
  ];
  for (const [step, s] of steps) if (ms / step <= 80) return s;
  return '1w';
}

export function spanMs(span: string): number {
  return relMs(span) ?? 60e3;
}

export function fmtTime(v: string | number | undefined | null): string {
  if (v === undefined || v === null || v === '') return '';
  const d = typeof v === 'number' ? new Date(v) : new Date(v);
  if (Number.isNaN(d.getTime())) return String(v);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function ago(v: string | null | undefined): string {
  if (!v) return '';
  const ms = Date.now() - Date.parse(v);
  if (Number.isNaN(ms)) return v;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** A local datetime-input value for an ISO time, and back. */
export function toInput(iso: string | number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export function fromInput(v: string): string | undefined {
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
