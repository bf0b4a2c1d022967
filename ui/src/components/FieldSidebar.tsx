// Fields of the current results, with how many events carry each and its top values.
import { useMemo, useState } from 'react';
import type { Json } from '../api/types';
import { display } from '../lib/query';
import { PV } from './Pivot';

export interface FieldStat {
  name: string;
  present: number;
  top: [string, number, Json][];
}

export function fieldStats(rows: Record<string, Json>[]): FieldStat[] {
  const m = new Map<string, { present: number; values: Map<string, [number, Json]> }>();
  for (const r of rows) {
    for (const [k, v] of Object.entries(r)) {
      if (k === 'event.original') continue;
      let s = m.get(k);
      if (!s) m.set(k, (s = { present: 0, values: new Map() }));
      s.present++;
      for (const one of Array.isArray(v) ? v : [v]) {
        const key = display(one);
        if (key.length > 200) continue;
        const c = s.values.get(key);
        if (c) c[0]++;
        else if (s.values.size < 5000) s.values.set(key, [1, one]);
      }
    }
  }
  return [...m.entries()]
    .map(([name, s]) => ({
      name,
      present: s.present,
      top: [...s.values.entries()]
        .sort((a, b) => b[1][0] - a[1][0])
        .slice(0, 5)
        .map(([k, [n, v]]) => [k, n, v] as [string, number, Json]),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function FieldSidebar({
  stats,
  total,
  columns,
  onToggleColumn,
}: {
  stats: FieldStat[];
  total: number;
  columns: string[];
  onToggleColumn: (f: string) => void;
}) {
  const [open, setOpen] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const shown = useMemo(() => stats.filter((s) => s.name.toLowerCase().includes(filter.toLowerCase())), [stats, filter]);
  return (
    <nav className="sidebar card" aria-label="Fields" style={{ padding: 10 }}>
      <h3>Fields ({stats.length})</h3>
      <input
        aria-label="Filter fields"
        placeholder="Filter fields"
        value={filter}
        onChange={(e) => setFilter(e.target.value)}
        style={{ width: '100%', marginBottom: 8 }}
      />
      {shown.length === 0 && <p className="muted" style={{ fontSize: 13 }}>No fields in the results.</p>}
      {shown.map((s) => (
        <div key={s.name}>
          <div className="row" style={{ gap: 2, flexWrap: 'nowrap' }}>
            <button className="fieldrow" aria-expanded={open === s.name} onClick={() => setOpen(open === s.name ? null : s.name)}>
              <span className="name mono">{s.name}</span>
              <span className="count">{Math.round((100 * s.present) / Math.max(total, 1))}%</span>
            </button>
            <button
              className="ghost small"
              aria-pressed={columns.includes(s.name)}
              aria-label={columns.includes(s.name) ? `Remove column ${s.name}` : `Add column ${s.name}`}
              title={columns.includes(s.name) ? 'Remove column' : 'Add column'}
              onClick={() => onToggleColumn(s.name)}
            >
              {columns.includes(s.name) ? '−' : '+'}
            </button>
          </div>
          {open === s.name && (
            <div className="topvalues">
              {s.top.map(([k, n, v]) => (
                <div className="tv" key={k}>
                  <span style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                    <PV field={s.name} value={v} />
                  </span>
                  <span className="muted">{n}</span>
                  <div className="bar">
                    <span style={{ width: `${(100 * n) / Math.max(total, 1)}%` }} />
                  </div>
                </div>
              ))}
            </div>
          )}
        </div>
      ))}
    </nav>
  );
}
