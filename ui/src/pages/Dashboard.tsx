// The SOC dashboard: every widget is a query in the search language with a chart type, run
// over the dashboard's time range; a click on a bar or slice pivots into Events.
import { useCallback, useEffect, useMemo, useState, type ReactNode } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { Alert, ComponentStatus, Json, SearchResponse } from '../api/types';
import { SEVERITIES } from '../api/types';
import { Chart, type ChartOption } from '../components/Chart';
import { Dialog, ErrorNotice, fmtNum } from '../components/Common';
import { Icon } from '../components/Icon';
import { TimePicker } from '../components/TimePicker';
import { display, term } from '../lib/query';
import { displayName, useSession } from '../lib/session';
import { cssVar } from '../lib/theme';
import { resolve, spanFor, spanMs, type Range } from '../lib/time';

type Kind = 'stats' | 'line' | 'bar' | 'pie' | 'stacked' | 'alerts' | 'health';

const KINDS: [Kind, string][] = [
  ['stats', 'Numbers (| stats ...)'],
  ['line', 'Line over time (| timechart span={span} ...)'],
  ['stacked', 'Stacked bars over time (| timechart span={span} ... by f)'],
  ['bar', 'Bars (| top N f, | count by f)'],
  ['pie', 'Donut (| count by f)'],
];
const SPANS = [3, 4, 6, 8, 12] as const;

interface Widget {
  id: string;
  title: string;
  /** A query in the search language; `{span}` becomes the time bucket for the range. */
  query: string;
  kind: Kind;
  span: (typeof SPANS)[number];
  /** The field a click on a bar or slice pivots on. */
  field?: string;
  /** What an empty result means, when "no data" would mislead. */
  empty?: string;
  /** Names of a stats widget's numbers, in column order. */
  labels?: string[];
  /** Counts per bucket shown as events per second. */
  eps?: boolean;
}

const WIDGETS: Widget[] = [
  {
    id: 'total',
    title: 'Activity',
    query: '| stats count() as events, dc(host.name) as hosts, dc(source.ip) as ips, dc(user.name) as users',
    labels: ['Events', 'Reporting hosts', 'Source IPs', 'Users'],
    kind: 'stats',
    span: 8,
  },
  { id: 'failures', title: 'Failures', query: 'event.outcome:failure | stats count() as failures, dc(source.ip) as ips', labels: ['Failed outcomes', 'From source IPs'], kind: 'stats', span: 4 },
  { id: 'eps', title: 'Events per second', query: '| timechart span={span} count()', kind: 'line', span: 8, eps: true },
  { id: 'sources', title: 'Events by source', query: '| count by vigil.source | sort -count | head 10', kind: 'pie', span: 4, field: 'vigil.source' },
  { id: 'outcomes', title: 'Authentication outcomes', query: 'event.category:authentication | timechart span={span} count() by event.outcome', kind: 'stacked', span: 6 },
  { id: 'programs', title: 'Events by program', query: '| top 10 process.name', kind: 'bar', span: 6, field: 'process.name' },
  { id: 'srcip', title: 'Top source IPs', query: '| top 10 source.ip', kind: 'bar', span: 4, field: 'source.ip' },
  { id: 'users', title: 'Top users', query: '| top 10 user.name', kind: 'bar', span: 4, field: 'user.name' },
  { id: 'tophosts', title: 'Top hosts', query: '| top 10 host.name', kind: 'bar', span: 4, field: 'host.name' },
  {
    id: 'countries',
    title: 'Source countries',
    query: '| top 10 source.geo.country_iso_code',
    kind: 'bar',
    span: 4,
    field: 'source.geo.country_iso_code',
    empty: 'No source country in this range: the events carry no source.geo fields (GeoIP enrichment).',
  },
  { id: 'alerts', title: 'Open alerts by severity and status', query: '', kind: 'alerts', span: 8 },
  { id: 'health', title: 'Source health', query: '', kind: 'health', span: 12 },
];

/** The dashboard layout is kept per user and tenant in this browser. */
function layoutKey(user: string, tenant: string): string {
  return `vigil.dashboard.${user}.${tenant}`;
}

function loadLayout(key: string): Widget[] {
  try {
    const raw = localStorage.getItem(key);
    if (raw) {
      const l = JSON.parse(raw) as Widget[];
      if (Array.isArray(l) && l.every((w) => typeof w.id === 'string' && typeof w.query === 'string' && typeof w.kind === 'string')) return l;
    }
  } catch {
    /* a broken layout falls back to the default */
  }
  return WIDGETS;
}

const REFRESH = [0, 10, 30, 60, 300];
/** Outcomes keep their meaning's colour whatever their order. */
const OUTCOME_COLOR: Record<string, string> = { success: '--chart-2', failure: '--chart-4', unknown: '--chart-6' };

export function DashboardPage() {
  const { tenant, principal } = useSession();
  const key = layoutKey(displayName(principal), tenant);
  const [layout, setLayoutState] = useState<Widget[]>(() => loadLayout(key));
  useEffect(() => setLayoutState(loadLayout(key)), [key]);
  const [editing, setEditing] = useState(false);
  const [adding, setAdding] = useState(false);
  const setLayout = (l: Widget[]) => {
    setLayoutState(l);
    try {
      localStorage.setItem(key, JSON.stringify(l));
    } catch {
      /* storage full or disabled: the layout lasts for this page */
    }
  };
  const move = (i: number, d: number) => {
    const j = i + d;
    if (j < 0 || j >= layout.length) return;
    const l = [...layout];
    [l[i], l[j]] = [l[j], l[i]];
    setLayout(l);
  };
  const [params, setParams] = useSearchParams();
  const range: Range = useMemo(() => ({ from: params.get('from') ?? '1h', to: params.get('to') ?? undefined }), [params]);
  const refresh = Number(params.get('refresh') ?? '30');
  const [tick, setTick] = useState(0);
  useEffect(() => {
    if (!refresh) return;
    const t = setInterval(() => setTick((x) => x + 1), refresh * 1000);
    return () => clearInterval(t);
  }, [refresh]);
  const [fromMs, toMs] = resolve(range);
  const span = spanFor(toMs - fromMs);

  const set = (k: string, v: string | null) => {
    const p = new URLSearchParams(params);
    if (v === null) p.delete(k);
    else p.set(k, v);
    setParams(p, { replace: true });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>SOC overview</h1>
        <span className="muted">tenant {tenant}</span>
        <span className="spacer" />
        <label className="row muted" style={{ fontSize: 13 }}>
          Auto-refresh
          <select value={refresh} onChange={(e) => set('refresh', e.target.value)} aria-label="Auto-refresh interval">
            {REFRESH.map((r) => (
              <option key={r} value={r}>
                {r === 0 ? 'off' : r < 60 ? `${r} s` : `${r / 60} min`}
              </option>
            ))}
          </select>
        </label>
        <button onClick={() => setTick((x) => x + 1)} aria-label="Refresh now">
          <Icon name="refresh" />
        </button>
        <button onClick={() => setEditing(!editing)} aria-pressed={editing}>
          {editing ? 'Done' : 'Edit'}
        </button>
        <TimePicker
          value={range}
          onChange={(r) => {
            const p = new URLSearchParams(params);
            p.set('from', r.from);
            if (r.to) p.set('to', r.to);
            else p.delete('to');
            setParams(p);
          }}
        />
      </div>
      {editing && (
        <div className="bulkbar" role="toolbar" aria-label="Dashboard layout">
          <span>Move, resize or remove widgets; the layout is kept in this browser for you and this tenant.</span>
          <span className="spacer" style={{ flex: 1 }} />
          <button onClick={() => setAdding(true)}>Add widget</button>
          <button onClick={() => setLayout(WIDGETS)}>Reset to default</button>
        </div>
      )}
      <div className="grid dash">
        {layout.map((w, i) => {
          const tools = editing ? (
            <div className="row" style={{ gap: 4, marginBottom: 6 }} role="group" aria-label={`Layout of ${w.title}`}>
              <button className="small" onClick={() => move(i, -1)} disabled={i === 0} aria-label={`Move ${w.title} earlier`}>
                ←
              </button>
              <button className="small" onClick={() => move(i, 1)} disabled={i === layout.length - 1} aria-label={`Move ${w.title} later`}>
                →
              </button>
              <select
                aria-label={`Width of ${w.title}`}
                value={w.span}
                onChange={(e) => setLayout(layout.map((x, j) => (j === i ? { ...x, span: Number(e.target.value) as Widget['span'] } : x)))}
              >
                {SPANS.map((s) => (
                  <option key={s} value={s}>
                    {s}/12
                  </option>
                ))}
              </select>
              <button className="small danger" onClick={() => setLayout(layout.filter((_, j) => j !== i))} aria-label={`Remove ${w.title}`}>
                Remove
              </button>
            </div>
          ) : null;
          if (w.kind === 'alerts') return <AlertsWidget key={w.id} span={w.span} tick={tick} tools={tools} />;
          if (w.kind === 'health') return <SourceHealth key={w.id} span={w.span} tick={tick} tools={tools} />;
          return <WidgetCard key={w.id} w={w} range={range} span={span} tenant={tenant} tick={tick} tools={tools} />;
        })}
      </div>
      {adding && (
        <AddWidget
          onClose={() => setAdding(false)}
          onAdd={(w) => {
            setLayout([...layout, w]);
            setAdding(false);
          }}
        />
      )}
    </div>
  );
}

function WidgetCard({ w, range, span, tenant, tick, tools }: { w: Widget; range: Range; span: string; tenant: string; tick: number; tools: ReactNode }) {
  const [res, setRes] = useState<SearchResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const navigate = useNavigate();
  const q = w.query.replaceAll('{span}', span);
  useEffect(() => {
    const ctl = new AbortController();
    api
      .search({ q, from: range.from, to: range.to, tenant, limit: 100 }, ctl.signal)
      .then((r) => {
        setRes(r);
        setError(null);
      })
      .catch((e) => !ctl.signal.aborted && setError(e));
    return () => ctl.abort();
  }, [q, range.from, range.to, tenant, tick]);

  const eventsLink = `/events?${new URLSearchParams({ q, from: range.from, ...(range.to ? { to: range.to } : {}) }).toString()}`;
  const pivot = useCallback(
    (name: string) => {
      if (!w.field) return;
      const p = new URLSearchParams({ q: term(w.field, name), from: range.from });
      if (range.to) p.set('to', range.to);
      navigate(`/events?${p.toString()}`);
    },
    [w.field, range.from, range.to, navigate],
  );
  const option = useMemo(() => (res && res.kind === 'table' ? chartOption(w, res.columns, res.rows, span) : null), [res, w, span]);

  return (
    <section className={`card span-${w.span}`} aria-label={w.title} data-widget={w.id}>
      {tools}
      <div className="card-head">
        <h2>{w.title}</h2>
        <span className="spacer" />
        <Link to={eventsLink} className="muted" style={{ fontSize: 12 }} title={q}>
          Open query
        </Link>
      </div>
      {error ? (
        <ErrorNotice error={error} />
      ) : !res ? (
        <div className="muted" style={{ height: w.kind === 'stats' ? 52 : 220 }}>
          Loading…
        </div>
      ) : w.kind === 'stats' ? (
        <div className="stats">
          {res.kind === 'table' &&
            res.columns.map((c, i) => (
              <div className="stat" key={c}>
                <span className="value">{fmtNum(Number(res.rows[0]?.[i] ?? 0))}</span>
                <span className="label">{w.labels?.[i] ?? c}</span>
              </div>
            ))}
        </div>
      ) : res.kind === 'table' && res.rows.length === 0 ? (
        <div className="empty" style={{ height: 220 }}>
          {w.empty ?? 'No data in this range.'}
        </div>
      ) : option ? (
        <Chart option={option} height={220} label={`${w.title} chart`} onClick={w.field ? pivot : undefined} />
      ) : null}
    </section>
  );
}

function chartOption(w: Widget, columns: string[], rows: Json[][], span: string): ChartOption {
  if (w.kind === 'line' || w.kind === 'stacked') {
    const ti = columns.indexOf('_time');
    const ci = columns.length - 1;
    const split = w.kind === 'stacked' ? columns.findIndex((_, i) => i !== ti && i !== ci) : -1;
    const per = w.eps ? spanMs(span) / 1000 : 1;
    const groups = new Map<string, [number, number][]>();
    for (const r of rows) {
      const key = split >= 0 ? display(r[split]) || '(none)' : w.title;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key)!.push([Date.parse(display(r[ti])), Math.round((Number(r[ci]) / per) * 100) / 100]);
    }
    return {
      grid: { left: 44, right: 12, top: split >= 0 ? 28 : 10, bottom: 24 },
      tooltip: { trigger: 'axis' },
      legend: split >= 0 ? { top: 0 } : undefined,
      xAxis: { type: 'time' },
      yAxis: { type: 'value', name: w.eps ? 'EPS' : undefined, nameTextStyle: { align: 'right' } },
      series: [...groups.entries()].map(([name, data]) =>
        w.kind === 'stacked'
          ? { type: 'bar', stack: 'all', name, data, barMaxWidth: 14, itemStyle: OUTCOME_COLOR[name] ? { color: cssVar(OUTCOME_COLOR[name]) } : undefined }
          : { type: 'line', name, data, showSymbol: false, smooth: true, areaStyle: { opacity: 0.15 } },
      ),
    };
  }
  const ci = columns.indexOf('count');
  const li = columns.findIndex((c) => c !== 'count' && c !== 'percent');
  if (w.kind === 'pie') {
    return {
      tooltip: { trigger: 'item' },
      legend: { orient: 'vertical', right: 0, top: 'middle', type: 'scroll' },
      series: [
        {
          type: 'pie',
          radius: ['45%', '72%'],
          center: ['35%', '50%'],
          label: { show: false },
          data: rows.map((r) => ({ name: display(r[li]) || '(none)', value: Number(r[ci]) })),
        },
      ],
    };
  }
  const top = rows.slice(0, 10);
  return {
    grid: { left: 8, right: 30, top: 6, bottom: 6, containLabel: true },
    tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
    xAxis: { type: 'value', splitNumber: 3 },
    yAxis: { type: 'category', inverse: true, data: top.map((r) => display(r[li])), axisLabel: { width: 130, overflow: 'truncate' } },
    series: [{ type: 'bar', name: 'events', data: top.map((r) => Number(r[ci])), barMaxWidth: 16, label: { show: true, position: 'right', fontSize: 11, color: cssVar('--text-muted'), textBorderWidth: 0 } }],
  };
}

function AlertsWidget({ tick, span, tools }: { tick: number; span: number; tools: ReactNode }) {
  const [alerts, setAlerts] = useState<Alert[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api
      .alerts({ status: 'new,assigned,escalated', limit: 1000 })
      .then((p) => {
        setAlerts(p.items);
        setError(null);
      })
      .catch(setError);
  }, [tick]);
  const option: ChartOption | null = useMemo(() => {
    if (!alerts) return null;
    const statuses = ['new', 'assigned', 'escalated'];
    return {
      grid: { left: 8, right: 12, top: 28, bottom: 6, containLabel: true },
      tooltip: { trigger: 'axis', axisPointer: { type: 'shadow' } },
      legend: { top: 0 },
      xAxis: { type: 'category', data: SEVERITIES },
      yAxis: { type: 'value', minInterval: 1 },
      series: statuses.map((s) => ({
        type: 'bar',
        stack: 'a',
        name: s,
        data: SEVERITIES.map((sev) => alerts.filter((a) => a.severity === sev && a.status === s).length),
      })),
    };
  }, [alerts]);
  return (
    <section className={`card span-${span}`} aria-label="Open alerts by severity and status">
      {tools}
      <div className="card-head">
        <h2>Open alerts by severity and status</h2>
        <span className="spacer" />
        <Link to="/alerts" className="muted" style={{ fontSize: 12 }}>
          Alert queue
        </Link>
      </div>
      {error ? <ErrorNotice error={error} what="The alert queue" /> : option ? <Chart option={option} height={220} label="Open alerts by severity and status" /> : <div className="muted">Loading…</div>}
    </section>
  );
}

function SourceHealth({ tick, span, tools }: { tick: number; span: number; tools: ReactNode }) {
  const [comps, setComps] = useState<ComponentStatus[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api
      .status()
      .then((s) => {
        setComps(s.components);
        setError(null);
      })
      .catch(setError);
  }, [tick]);
  const sources = (comps ?? []).filter((c) => c.kind === 'connector');
  return (
    <section className={`card span-${span}`} aria-label="Source health">
      {tools}
      <div className="card-head">
        <h2>Source health</h2>
        <span className="spacer" />
        <Link to="/sources" className="muted" style={{ fontSize: 12 }}>
          All components
        </Link>
      </div>
      {error ? (
        <ErrorNotice error={error} />
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th>Source</th>
              <th className="num">Events in</th>
              <th className="num">Errors</th>
              <th className="num">Drops</th>
              <th>State</th>
            </tr>
          </thead>
          <tbody>
            {sources.map((c) => {
              const errors = Object.values(c.errors).reduce((a, b) => a + b, 0);
              const drops = Object.values(c.drops).reduce((a, b) => a + b, 0);
              return (
                <tr key={c.id}>
                  <td className="mono">{c.id}</td>
                  <td className="num">{fmtNum(c.events_in)}</td>
                  <td className="num">{fmtNum(errors)}</td>
                  <td className="num">{fmtNum(drops)}</td>
                  <td>
                    <span className={`badge ${drops > 0 ? 'sev-high' : errors > 0 ? 'sev-medium' : c.events_in > 0 ? 'status-new' : ''}`}>
                      {drops > 0 ? 'dropping' : errors > 0 ? 'errors' : c.events_in > 0 ? 'receiving' : 'silent'}
                    </span>
                  </td>
                </tr>
              );
            })}
            {comps && sources.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No sources configured.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      )}
    </section>
  );
}

function AddWidget({ onClose, onAdd }: { onClose: () => void; onAdd: (w: Widget) => void }) {
  const [title, setTitle] = useState('');
  const [query, setQuery] = useState('| top 10 host.name');
  const [kind, setKind] = useState<Kind>('bar');
  const [field, setField] = useState('');
  const [span, setSpan] = useState<Widget['span']>(6);
  return (
    <Dialog
      title="Add a widget"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button
            className="primary"
            disabled={!title.trim() || !query.trim()}
            onClick={() => onAdd({ id: `w${Date.now().toString(36)}`, title, query, kind, span, field: field || undefined })}
          >
            Add
          </button>
        </>
      }
    >
      <label className="field">
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} />
      </label>
      <label className="field">
        Query (search language; <code>{'{span}'}</code> is the time bucket)
        <input className="mono" value={query} onChange={(e) => setQuery(e.target.value)} />
      </label>
      <div className="row">
        <label className="field" style={{ flex: 1 }}>
          Chart
          <select value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            {KINDS.map(([k, l]) => (
              <option key={k} value={k}>
                {l}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Width
          <select value={span} onChange={(e) => setSpan(Number(e.target.value) as Widget['span'])}>
            {SPANS.map((s) => (
              <option key={s} value={s}>
                {s}/12
              </option>
            ))}
          </select>
        </label>
      </div>
      <label className="field">
        Field a click pivots on (optional)
        <input className="mono" value={field} onChange={(e) => setField(e.target.value)} placeholder="host.name" />
      </label>
    </Dialog>
  );
}
