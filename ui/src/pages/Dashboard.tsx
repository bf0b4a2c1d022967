// Dashboards: every widget is a query in the search language with a chart type, run over the
// dashboard's time range; a click on a bar or slice pivots into Events. Dashboards live on the
// server (GET/POST/PUT/DELETE /api/v1/dashboards): each user's own, and the tenant's shared
// ones that tenant administrators keep. A user with none sees the built-in SOC overview
// (GET /api/v1/dashboards/default), stored as theirs at their first change.
import { useCallback, useEffect, useMemo, useRef, useState, type CSSProperties, type ReactNode } from 'react';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { Alert, ComponentStatus, Dashboard, DashboardWidget, Json, Principal, SearchResponse } from '../api/types';
import { SEVERITIES } from '../api/types';
import { Chart, type ChartOption } from '../components/Chart';
import { Dialog, ErrorNotice, fmtNum } from '../components/Common';
import { Icon } from '../components/Icon';
import { TimePicker } from '../components/TimePicker';
import { display, term } from '../lib/query';
import { atLeast, useSession } from '../lib/session';
import { cssVar } from '../lib/theme';
import { resolve, spanFor, spanMs, type Range } from '../lib/time';

type Widget = DashboardWidget;
type Kind = Widget['chart'];

const KINDS: [Kind, string][] = [
  ['stats', 'Numbers (| stats ...)'],
  ['line', 'Line over time (| timechart span={span} ...)'],
  ['stacked', 'Stacked bars over time (| timechart span={span} ... by f)'],
  ['bar', 'Bars (| top N f, | count by f)'],
  ['pie', 'Donut (| count by f)'],
  ['table', 'Table (any result)'],
];
const WIDTHS = [2, 3, 4, 5, 6, 7, 8, 9, 10, 12];
const HEIGHTS = [1, 2, 3, 4];
/** Pixels of chart per row of height. */
const ROW_PX = 110;

/** The actor the server records as a dashboard's owner: the username, or `token:<id>`. */
function actorOf(p: Principal): string {
  return p.kind === 'user' ? p.username : `token:${p.id}`;
}

/** What the page shows: a stored dashboard, or the built-in default not stored yet. */
type Shown = { stored: Dashboard } | { template: { name: string; widgets: Widget[] } };

const REFRESH = [0, 10, 30, 60, 300];
/** Outcomes keep their meaning's colour whatever their order. */
const OUTCOME_COLOR: Record<string, string> = { success: '--chart-2', failure: '--chart-4', unknown: '--chart-6' };

export function DashboardPage() {
  const { tenant, principal } = useSession();
  const me = actorOf(principal);
  const mayWrite = atLeast(principal, tenant, 'tier1_analyst');
  const mayShare = atLeast(principal, tenant, 'tenant_administrator');
  const [params, setParams] = useSearchParams();
  const wanted = params.get('d');
  const [list, setList] = useState<Dashboard[] | null>(null);
  const [template, setTemplate] = useState<{ name: string; widgets: Widget[] } | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [saveError, setSaveError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [editing, setEditing] = useState(false);
  const [adding, setAdding] = useState(false);
  const [creating, setCreating] = useState(false);

  const reload = useCallback(async () => {
    try {
      const [l, t] = await Promise.all([api.dashboards(tenant), api.defaultDashboard()]);
      setList(l.filter((d) => d.tenant === tenant));
      setTemplate(t);
      setLoadError(null);
    } catch (e) {
      setLoadError(e);
    }
  }, [tenant]);
  useEffect(() => {
    void reload();
  }, [reload]);

  // The dashboard shown: the one in the URL, else the caller's first, else the first shared
  // one, else the built-in default.
  const shown: Shown | null = useMemo(() => {
    if (!list || !template) return null;
    const pick = (wanted && list.find((d) => d.id === wanted)) || list.find((d) => d.owner === me) || list[0];
    return pick ? { stored: pick } : { template };
  }, [list, template, wanted, me]);
  const name = shown ? ('stored' in shown ? shown.stored.name : shown.template.name) : 'Dashboard';
  const layout: Widget[] = shown ? ('stored' in shown ? shown.stored.widgets : shown.template.widgets) : [];
  const shared = !!shown && 'stored' in shown && shown.stored.shared;
  const canEdit = !!shown && ('stored' in shown ? (shown.stored.shared ? mayShare : shown.stored.owner === me && mayWrite) : mayWrite);

  // Saves go one at a time, in order, so the server ends with the last change.
  const queue = useRef<Promise<void>>(Promise.resolve());
  // The dashboard the built-in default became at its first change (saves queued before the
  // page shows it go there too).
  const created = useRef<string | null>(null);
  useEffect(() => {
    created.current = null;
  }, [tenant]);

  /** Stores a change: the default becomes the caller's own dashboard at its first change. */
  const save = (change: { name?: string; shared?: boolean; widgets?: Widget[] }) => {
    if (!shown) return;
    const body = { name: change.name ?? name, shared: change.shared ?? shared, widgets: change.widgets ?? layout };
    // show the change at once; the server's answer replaces it
    if ('stored' in shown) setList((l) => l && l.map((d) => (d.id === shown.stored.id ? { ...d, ...body } : d)));
    else setTemplate({ name: body.name, widgets: body.widgets });
    setSaving(true);
    const target = 'stored' in shown ? shown.stored.id : null;
    queue.current = queue.current.then(async () => {
      try {
        const id = target ?? created.current;
        if (id) {
          const d = await api.updateDashboard(id, body);
          setList((l) => l && l.map((x) => (x.id === d.id ? d : x)));
        } else {
          const d = await api.createDashboard({ tenant, ...body });
          created.current = d.id;
          setList((l) => [...(l ?? []), d]);
          setDashboardParam(d.id);
        }
        setSaveError(null);
      } catch (e) {
        setSaveError(e);
        void reload();
      } finally {
        setSaving(false);
      }
    });
  };
  const setDashboardParam = (id: string | null) => {
    const p = new URLSearchParams(params);
    if (id) p.set('d', id);
    else p.delete('d');
    setParams(p, { replace: true });
  };
  const setLayout = (l: Widget[]) => void save({ widgets: l });
  const move = (i: number, d: number) => {
    const j = i + d;
    if (j < 0 || j >= layout.length) return;
    const l = [...layout];
    [l[i], l[j]] = [l[j], l[i]];
    setLayout(l);
  };
  const remove = async () => {
    if (!shown || !('stored' in shown)) return;
    if (!window.confirm(`Delete the dashboard "${name}"?`)) return;
    try {
      await api.deleteDashboard(shown.stored.id);
      created.current = null;
      setList((l) => l && l.filter((d) => d.id !== shown.stored.id));
      setDashboardParam(null);
      setEditing(false);
      setSaveError(null);
    } catch (e) {
      setSaveError(e);
    }
  };
  const copy = async () => {
    try {
      const d = await api.createDashboard({ tenant, name: `${name} (copy)`, shared: false, widgets: layout });
      setList((l) => [...(l ?? []), d]);
      setDashboardParam(d.id);
      setSaveError(null);
    } catch (e) {
      setSaveError(e);
    }
  };

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
  const stored = shown && 'stored' in shown ? shown.stored : null;

  return (
    <div className="page">
      <div className="page-head">
        <h1>{name}</h1>
        <span className="muted">
          tenant {tenant}
          {shared ? ' · shared' : stored ? ' · yours' : ' · built-in'}
        </span>
        {list && list.length > 0 && (
          <select aria-label="Dashboard" value={stored?.id ?? ''} onChange={(e) => setDashboardParam(e.target.value || null)}>
            {list.map((d) => (
              <option key={d.id} value={d.id}>
                {d.name}
                {d.shared ? ' (shared)' : ''}
              </option>
            ))}
          </select>
        )}
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
        {mayWrite && <button onClick={() => setCreating(true)}>New</button>}
        {canEdit ? (
          <button onClick={() => setEditing(!editing)} aria-pressed={editing}>
            {editing ? 'Done' : 'Edit'}
          </button>
        ) : (
          mayWrite && (
            <button onClick={() => void copy()} title="This dashboard is shared: tenant administrators change it">
              Copy to mine
            </button>
          )
        )}
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
      <ErrorNotice error={loadError} what="Dashboards" />
      <ErrorNotice error={saveError} />
      {editing && canEdit && (
        <div className="bulkbar" role="toolbar" aria-label="Dashboard layout">
          <label className="row">
            Name
            <input
              key={stored?.id ?? 'default'}
              aria-label="Dashboard name"
              defaultValue={name}
              onBlur={(e) => e.target.value.trim() && e.target.value.trim() !== name && void save({ name: e.target.value.trim() })}
              onKeyDown={(e) => e.key === 'Enter' && (e.target as HTMLInputElement).blur()}
            />
          </label>
          {mayShare && (
            <label className="row">
              <input type="checkbox" checked={shared} onChange={(e) => void save({ shared: e.target.checked })} />
              Shared with the tenant
            </label>
          )}
          <span className="muted" aria-live="polite">
            {saving ? 'Saving…' : stored ? 'Saved on the server' : 'Your first change saves it as your dashboard'}
          </span>
          <span className="spacer" style={{ flex: 1 }} />
          <button onClick={() => setAdding(true)}>Add widget</button>
          {template && stored && <button onClick={() => api.defaultDashboard().then((t) => setLayout(t.widgets))}>Reset to default</button>}
          {stored && (
            <button className="danger" onClick={() => void remove()}>
              Delete dashboard
            </button>
          )}
        </div>
      )}
      <div className="grid dash">
        {layout.map((w, i) => {
          const tools = editing && canEdit ? (
            <div className="row" style={{ gap: 4, marginBottom: 6, flexWrap: 'wrap' }} role="group" aria-label={`Layout of ${w.title}`}>
              <button className="small" onClick={() => move(i, -1)} disabled={i === 0} aria-label={`Move ${w.title} earlier`}>
                ←
              </button>
              <button className="small" onClick={() => move(i, 1)} disabled={i === layout.length - 1} aria-label={`Move ${w.title} later`}>
                →
              </button>
              <select aria-label={`Width of ${w.title}`} value={w.width} onChange={(e) => setLayout(layout.map((x, j) => (j === i ? { ...x, width: Number(e.target.value) } : x)))}>
                {(WIDTHS.includes(w.width) ? WIDTHS : [...WIDTHS, w.width].sort((a, b) => a - b)).map((s) => (
                  <option key={s} value={s}>
                    {s}/12
                  </option>
                ))}
              </select>
              <select aria-label={`Height of ${w.title}`} value={w.height ?? 2} onChange={(e) => setLayout(layout.map((x, j) => (j === i ? { ...x, height: Number(e.target.value) } : x)))}>
                {HEIGHTS.map((h) => (
                  <option key={h} value={h}>
                    {h} {h === 1 ? 'row' : 'rows'}
                  </option>
                ))}
              </select>
              <button className="small danger" onClick={() => setLayout(layout.filter((_, j) => j !== i))} aria-label={`Remove ${w.title}`}>
                Remove
              </button>
            </div>
          ) : null;
          if (w.chart === 'alerts') return <AlertsWidget key={w.id} w={w} tick={tick} tools={tools} />;
          if (w.chart === 'health') return <SourceHealth key={w.id} w={w} tick={tick} tools={tools} />;
          return <WidgetCard key={w.id} w={w} range={range} span={span} tenant={tenant} tick={tick} tools={tools} />;
        })}
      </div>
      {shown && layout.length === 0 && (
        <div className="empty" style={{ padding: 40 }}>
          This dashboard has no widget yet{canEdit ? ': Edit, then Add widget.' : '.'}
        </div>
      )}
      {adding && (
        <AddWidget
          onClose={() => setAdding(false)}
          onAdd={(w) => {
            setLayout([...layout, w]);
            setAdding(false);
          }}
        />
      )}
      {creating && (
        <NewDashboard
          mayShare={mayShare}
          onClose={() => setCreating(false)}
          onCreate={async (n, sh, fromDefault) => {
            const d = await api.createDashboard({ tenant, name: n, shared: sh, widgets: fromDefault && template ? template.widgets : [] });
            setList((l) => [...(l ?? []), d]);
            setDashboardParam(d.id);
            setCreating(false);
            setEditing(true);
          }}
        />
      )}
    </div>
  );
}

/** The grid cell of a widget: its width in columns (all twelve on narrow screens). */
function cell(w: Widget): CSSProperties {
  return { '--w': w.width } as CSSProperties;
}

function NewDashboard({ mayShare, onClose, onCreate }: { mayShare: boolean; onClose: () => void; onCreate: (name: string, shared: boolean, fromDefault: boolean) => Promise<void> }) {
  const [name, setName] = useState('');
  const [shared, setShared] = useState(false);
  const [fromDefault, setFromDefault] = useState(true);
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog
      title="New dashboard"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" disabled={!name.trim()} onClick={() => onCreate(name.trim(), shared, fromDefault).catch(setError)}>
            Create
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      <label className="field">
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="row">
        <input type="checkbox" checked={fromDefault} onChange={(e) => setFromDefault(e.target.checked)} />
        Start from the SOC overview's widgets
      </label>
      {mayShare && (
        <label className="row">
          <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} />
          Shared with the tenant
        </label>
      )}
    </Dialog>
  );
}

function WidgetCard({ w, range, span, tenant, tick, tools }: { w: Widget; range: Range; span: string; tenant: string; tick: number; tools: ReactNode }) {
  const [res, setRes] = useState<SearchResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const navigate = useNavigate();
  const q = (w.query ?? '').replaceAll('{span}', span);
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
  const option = useMemo(() => (res && res.kind === 'table' && w.chart !== 'table' ? chartOption(w, res.columns, res.rows, span) : null), [res, w, span]);
  const height = ROW_PX * (w.height ?? 2);

  return (
    <section className="card cell" style={cell(w)} aria-label={w.title} data-widget={w.id}>
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
        <div className="muted" style={{ height: w.chart === 'stats' ? 52 : height }}>
          Loading…
        </div>
      ) : w.chart === 'stats' ? (
        <div className="stats">
          {res.kind === 'table' &&
            res.columns.map((c, i) => (
              <div className="stat" key={c}>
                <span className="value">{fmtNum(Number(res.rows[0]?.[i] ?? 0))}</span>
                <span className="label">{w.labels?.[i] ?? c}</span>
              </div>
            ))}
        </div>
      ) : (res.kind === 'table' ? res.rows.length : res.events.length) === 0 ? (
        <div className="empty" style={{ height }}>
          {w.empty ?? 'No data in this range.'}
        </div>
      ) : w.chart === 'table' ? (
        <ResultTable res={res} height={height} />
      ) : option ? (
        <Chart option={option} height={height} label={`${w.title} chart`} onClick={w.field ? pivot : undefined} />
      ) : (
        <div className="empty" style={{ height }}>
          This query returns events, not a table: end it with a stage such as <code>| top 10 host.name</code>, or draw it as a table.
        </div>
      )}
    </section>
  );
}

/** A table widget: a table result as it is, or events by time, host and message. */
function ResultTable({ res, height }: { res: SearchResponse; height: number }) {
  const columns = res.kind === 'table' ? res.columns : ['@timestamp', 'host.name', 'message'];
  const rows: Json[][] =
    res.kind === 'table'
      ? res.rows
      : res.events.map((e) => columns.map((c) => c.split('.').reduce<Json>((v, k) => (v && typeof v === 'object' && !Array.isArray(v) ? (v[k] ?? null) : null), e)));
  return (
    <div style={{ maxHeight: height, overflow: 'auto' }} tabIndex={0} role="region" aria-label="Result">
      <table className="data">
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, 100).map((r, i) => (
            <tr key={i}>
              {r.map((v, j) => (
                <td key={j} className={typeof v === 'number' ? 'num' : 'mono'}>
                  {typeof v === 'number' ? fmtNum(v) : display(v)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function chartOption(w: Widget, columns: string[], rows: Json[][], span: string): ChartOption {
  if (w.chart === 'line' || w.chart === 'stacked') {
    const ti = columns.indexOf('_time');
    const ci = columns.length - 1;
    const split = w.chart === 'stacked' ? columns.findIndex((_, i) => i !== ti && i !== ci) : -1;
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
        w.chart === 'stacked'
          ? { type: 'bar', stack: 'all', name, data, barMaxWidth: 14, itemStyle: OUTCOME_COLOR[name] ? { color: cssVar(OUTCOME_COLOR[name]) } : undefined }
          : { type: 'line', name, data, showSymbol: false, smooth: true, areaStyle: { opacity: 0.15 } },
      ),
    };
  }
  const ci = columns.indexOf('count');
  const li = columns.findIndex((c) => c !== 'count' && c !== 'percent');
  if (w.chart === 'pie') {
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

function AlertsWidget({ w, tick, tools }: { w: Widget; tick: number; tools: ReactNode }) {
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
    <section className="card cell" style={cell(w)} aria-label={w.title} data-widget={w.id}>
      {tools}
      <div className="card-head">
        <h2>{w.title}</h2>
        <span className="spacer" />
        <Link to="/alerts" className="muted" style={{ fontSize: 12 }}>
          Alert queue
        </Link>
      </div>
      {error ? <ErrorNotice error={error} what="The alert queue" /> : option ? <Chart option={option} height={ROW_PX * (w.height ?? 2)} label={w.title} /> : <div className="muted">Loading…</div>}
    </section>
  );
}

function SourceHealth({ w, tick, tools }: { w: Widget; tick: number; tools: ReactNode }) {
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
    <section className="card cell" style={cell(w)} aria-label={w.title} data-widget={w.id}>
      {tools}
      <div className="card-head">
        <h2>{w.title}</h2>
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
  const [width, setWidth] = useState(6);
  const [height, setHeight] = useState(2);
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
            onClick={() => onAdd({ id: `w${Date.now().toString(36)}`, title: title.trim(), query, chart: kind, width, height: kind === 'stats' ? 1 : height, field: field.trim() || undefined })}
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
          <select value={width} onChange={(e) => setWidth(Number(e.target.value))}>
            {WIDTHS.map((s) => (
              <option key={s} value={s}>
                {s}/12
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Height
          <select value={height} onChange={(e) => setHeight(Number(e.target.value))}>
            {HEIGHTS.map((h) => (
              <option key={h} value={h}>
                {h} {h === 1 ? 'row' : 'rows'}
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
