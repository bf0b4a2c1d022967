// Events: the job Kibana's Discover does. The whole view (query, range, columns, open event)
// is in the URL, so a link reproduces it.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { api, ApiError } from '../api/client';
import type { EventDoc, Json, SearchResponse } from '../api/types';
import { Chart, type ChartOption } from '../components/Chart';
import { ErrorNotice, fmtNum } from '../components/Common';
import { EventDrawer } from '../components/EventDrawer';
import { EventTable, type Row } from '../components/EventTable';
import { FieldSidebar, fieldStats } from '../components/FieldSidebar';
import { Icon } from '../components/Icon';
import { PV } from '../components/Pivot';
import { QueryEditor } from '../components/QueryEditor';
import { SavedSearches } from '../components/SavedSearches';
import { TimePicker } from '../components/TimePicker';
import { download, eventsToCsv, toCsv } from '../lib/download';
import { COMMON_FIELDS, display, flatten, splitPipeline } from '../lib/query';
import { useSession } from '../lib/session';
import { resolve, spanFor, spanMs, type Range } from '../lib/time';

const DEFAULT_COLUMNS = ['host.name', 'process.name', 'message'];
const PAGE = 500;

interface Hist {
  points: [number, number][];
  span: string;
}

function errorColumnOf(e: unknown): number | null {
  if (!(e instanceof ApiError) || e.code !== 'bad_query') return null;
  const m = /at column (\d+)/.exec(e.message);
  return m ? Number(m[1]) : null;
}

export function EventsPage() {
  const { tenant } = useSession();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const range: Range = useMemo(() => ({ from: params.get('from') ?? '1h', to: params.get('to') ?? undefined }), [params]);
  const columns = useMemo(() => {
    const c = params.get('cols');
    return c === null ? DEFAULT_COLUMNS : c.split(',').filter(Boolean);
  }, [params]);
  const [draft, setDraft] = useState(q);
  const [result, setResult] = useState<SearchResponse | null>(null);
  const [older, setOlder] = useState<EventDoc[]>([]);
  const [hist, setHist] = useState<Hist | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [moreLoading, setMoreLoading] = useState(false);
  const [exhausted, setExhausted] = useState(false);
  const abort = useRef<AbortController | null>(null);

  useEffect(() => setDraft(q), [q]);

  const update = useCallback(
    (changes: Record<string, string | null>) => {
      const p = new URLSearchParams(params);
      for (const [k, v] of Object.entries(changes)) {
        if (v === null || v === '') p.delete(k);
        else p.set(k, v);
      }
      setParams(p);
    },
    [params, setParams],
  );

  // run the search (and its histogram) whenever the URL's query or range changes
  const runKey = `${tenant}\u0000${q}\u0000${range.from}\u0000${range.to ?? ''}\u0000${params.get('n') ?? ''}`;
  useEffect(() => {
    abort.current?.abort();
    const ctl = new AbortController();
    abort.current = ctl;
    setLoading(true);
    setError(null);
    setOlder([]);
    setExhausted(false);
    const [fromMs, toMs] = resolve(range);
    const [search, pipe] = splitPipeline(q);
    const base = { from: range.from, to: range.to, tenant };
    const main = api.search({ ...base, q, limit: PAGE }, ctl.signal);
    const span = spanFor(toMs - fromMs);
    const histQ = pipe ? null : `${search || '*'} | timechart span=${span} count()`;
    const histP = histQ ? api.search({ ...base, q: histQ, limit: PAGE }, ctl.signal) : Promise.resolve(null);
    main
      .then((r) => {
        if (ctl.signal.aborted) return;
        setResult(r);
        setLoading(false);
      })
      .catch((e) => {
        if (ctl.signal.aborted || (e as Error).name === 'AbortError') return;
        setError(e);
        setResult(null);
        setLoading(false);
      });
    histP
      .then((h) => {
        if (ctl.signal.aborted) return;
        if (h && h.kind === 'table') {
          const ti = h.columns.indexOf('_time');
          const ci = h.columns.indexOf('count');
          setHist({
            span,
            points: h.rows.map((r) => [Date.parse(display(r[ti])), Number(r[ci])] as [number, number]).filter(([t]) => !Number.isNaN(t)),
          });
        } else setHist(null);
      })
      .catch(() => !ctl.signal.aborted && setHist(null));
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [runKey]);

  const events: EventDoc[] = useMemo(() => (result?.kind === 'events' ? [...result.events, ...older] : []), [result, older]);
  const flat = useMemo(() => events.map((e) => flatten(e)), [events]);
  const rows: Row[] = useMemo(() => flat.map((f, index) => ({ flat: f, index })), [flat]);
  const stats = useMemo(() => fieldStats(flat), [flat]);
  const suggestions = useMemo(
    () => ({
      fields: [...new Set([...stats.map((s) => s.name), ...COMMON_FIELDS])].sort(),
      values: (f: string) => stats.find((s) => s.name === f)?.top.map(([k]) => k) ?? [],
    }),
    [stats],
  );
  const openIndex = params.get('event') !== null ? Number(params.get('event')) : null;
  const openEvent = openIndex !== null && openIndex >= 0 && openIndex < events.length ? events[openIndex] : null;

  const loadOlder = async () => {
    const last = flat[flat.length - 1];
    if (!last) return;
    setMoreLoading(true);
    try {
      const r = await api.search({ q, from: range.from, to: display(last['@timestamp']), tenant, limit: PAGE });
      if (r.kind === 'events') {
        // events at exactly the boundary time were returned before: skip those already shown
        const seen = new Set(events.map((e) => JSON.stringify(e)));
        const fresh = r.events.filter((e) => !seen.has(JSON.stringify(e)));
        setOlder((o) => [...o, ...fresh]);
        if (!r.truncated) setExhausted(true);
      }
    } catch (e) {
      setError(e);
    } finally {
      setMoreLoading(false);
    }
  };

  const toggleColumn = (c: string) =>
    update({ cols: (columns.includes(c) ? columns.filter((x) => x !== c) : [...columns, c]).join(',') || ',' });

  const histOption: ChartOption | null = useMemo(() => {
    if (!hist) return null;
    return {
      grid: { left: 48, right: 12, top: 10, bottom: 24 },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'time' },
      yAxis: { type: 'value', minInterval: 1 },
      brush: { xAxisIndex: 0, brushType: 'lineX', brushMode: 'single', throttleType: 'debounce', transformable: false },
      series: [
        {
          type: 'bar',
          name: 'events',
          barMaxWidth: 18,
          data: hist.points.map(([t, c]) => [t + spanMs(hist.span) / 2, c]),
        },
      ],
    };
  }, [hist]);

  const zoom = useCallback(
    (a: number, b: number) => {
      const from = new Date(Math.min(a, b)).toISOString();
      const to = new Date(Math.max(a, b)).toISOString();
      update({ from, to, event: null });
    },
    [update],
  );

  const total = hist ? hist.points.reduce((s, [, c]) => s + c, 0) : null;
  const exportData = (fmt: 'csv' | 'json') => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    if (result?.kind === 'table') {
      if (fmt === 'csv') download(`vigil-${stamp}.csv`, 'text/csv', toCsv(result.columns, result.rows));
      else download(`vigil-${stamp}.json`, 'application/json', JSON.stringify(result.rows.map((r) => Object.fromEntries(result.columns.map((c, i) => [c, r[i]]))), null, 2));
    } else if (fmt === 'csv') download(`vigil-${stamp}.csv`, 'text/csv', eventsToCsv(events, ['@timestamp', ...columns]));
    else download(`vigil-${stamp}.json`, 'application/json', JSON.stringify(events, null, 2));
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Events</h1>
        <span className="muted" aria-live="polite">
          {loading
            ? 'Searching…'
            : result?.kind === 'events'
              ? `${fmtNum(total ?? events.length)} events${total !== null && total > events.length ? `, ${fmtNum(events.length)} shown` : ''} · ${result.took_ms} ms`
              : result?.kind === 'table'
                ? `${fmtNum(result.rows.length)} rows · ${result.took_ms} ms`
                : ''}
        </span>
        <span className="spacer" />
        <SavedSearches
          tenant={tenant}
          query={q}
          from={range.from}
          onOpen={(s) => update({ q: s.query, from: s.time_range || '1h', to: null, event: null })}
        />
        <button onClick={() => exportData('csv')} disabled={!result} aria-label="Export as CSV">
          <Icon name="download" /> CSV
        </button>
        <button onClick={() => exportData('json')} disabled={!result} aria-label="Export as JSON">
          <Icon name="download" /> JSON
        </button>
      </div>
      <div className="querybar">
        <QueryEditor
          value={draft}
          onChange={setDraft}
          onRun={(v) => update({ q: v, event: null, n: draft === q ? String(Date.now()) : null })}
          suggestions={suggestions}
          errorColumn={errorColumnOf(error)}
        />
        <TimePicker value={range} onChange={(r) => update({ from: r.from, to: r.to ?? null, event: null })} />
        <button className="primary" onClick={() => update({ q: draft, event: null, n: String(Date.now()) })}>
          <Icon name="search" /> Search
        </button>
      </div>
      <ErrorNotice error={error} />
      {histOption && result?.kind === 'events' && (
        <div className="card" style={{ marginBottom: 12, padding: '8px 10px' }}>
          <div className="row muted" style={{ fontSize: 12, justifyContent: 'space-between' }}>
            <span>Events per {hist?.span} · drag across the chart to zoom into a time range</span>
          </div>
          <Chart option={histOption} height={130} label="Histogram of matching events over time" onBrush={zoom} />
        </div>
      )}
      {error && !result ? null : result?.kind === 'table' ? (
        <TableResult columns={result.columns} rows={result.rows} />
      ) : (
        <div className="events-layout">
          <FieldSidebar stats={stats} total={events.length} columns={columns} onToggleColumn={toggleColumn} />
          <div style={{ minWidth: 0 }}>
            {!loading && result && events.length === 0 ? (
              <div className="card empty">No events match this query in this time range.</div>
            ) : (
              <EventTable
                rows={rows}
                columns={columns}
                selected={openIndex}
                onOpen={(i) => update({ event: String(i) })}
                onRemoveColumn={(c) => toggleColumn(c)}
              />
            )}
            {result?.kind === 'events' && (result.truncated || older.length > 0) && !exhausted && (
              <div className="row" style={{ marginTop: 8 }}>
                <button onClick={loadOlder} disabled={moreLoading}>
                  {moreLoading ? 'Loading…' : `Load ${PAGE} older events`}
                </button>
              </div>
            )}
          </div>
        </div>
      )}
      {openEvent && (
        <EventDrawer
          event={openEvent}
          onClose={() => update({ event: null })}
          onAddColumn={(f) => !columns.includes(f) && toggleColumn(f)}
        />
      )}
    </div>
  );
}

function TableResult({ columns, rows }: { columns: string[]; rows: Json[][] }) {
  const isTime = columns[0] === '_time';
  const numeric = columns.map((_, i) => rows.every((r) => typeof r[i] === 'number' || r[i] === null));
  const option: ChartOption | null = useMemo(() => {
    if (rows.length === 0) return null;
    const valueCols = columns.map((c, i) => [c, i] as const).filter(([, i]) => numeric[i] && i > 0);
    if (valueCols.length === 0) return null;
    if (isTime) {
      const split = columns.length > 2 && !numeric[1] ? 1 : -1;
      const vi = valueCols[0][1];
      const groups = new Map<string, [number, number][]>();
      for (const r of rows) {
        const key = split >= 0 ? display(r[split]) : valueCols[0][0];
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key)!.push([Date.parse(display(r[0])), Number(r[vi])]);
      }
      return {
        grid: { left: 48, right: 12, top: 30, bottom: 24 },
        tooltip: { trigger: 'axis' },
        legend: { top: 0, type: 'scroll' },
        xAxis: { type: 'time' },
        yAxis: { type: 'value' },
        series: [...groups.entries()].slice(0, 12).map(([name, data]) => ({ type: 'line', name, showSymbol: false, data })),
      };
    }
    const label = columns.findIndex((_, i) => !numeric[i]);
    if (label < 0) return null;
    const top = rows.slice(0, 25);
    return {
      grid: { left: 12, right: 24, top: 10, bottom: 10, containLabel: true },
      tooltip: { trigger: 'axis' },
      xAxis: { type: 'value' },
      yAxis: { type: 'category', inverse: true, data: top.map((r) => display(r[label])) },
      series: [{ type: 'bar', name: valueCols[0][0], data: top.map((r) => r[valueCols[0][1]]) }],
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [columns, rows]);
  return (
    <div className="grid">
      {option && (
        <div className="card">
          <Chart option={option} height={Math.min(520, Math.max(200, isTime ? 260 : Math.min(rows.length, 25) * 20 + 30))} label="Chart of the aggregation" />
        </div>
      )}
      <div className="card flush" style={{ overflow: 'auto', maxHeight: 560 }}>
        <table className="data">
          <thead>
            <tr>
              {columns.map((c, i) => (
                <th key={c} className={numeric[i] ? 'num' : undefined}>
                  {c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r, ri) => (
              <tr key={ri}>
                {r.map((v, i) => (
                  <td key={i} className={numeric[i] ? 'num' : undefined}>
                    {numeric[i] || columns[i] === '_time' ? display(v) : <PV field={columns[i]} value={v} />}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {rows.length === 0 && <div className="empty">No rows.</div>}
      </div>
    </div>
  );
}
