// Sources: every collector and host of the tenant with its EPS sparkline (the last hour, per
// minute), last event, parse errors, drops and monitoring breaches; the monitoring policies
// (list, create, edit, delete); the collectors of the configuration file (connector,
// normalizer, tenant), edited as YAML with validation as you type (problems at their line) and
// saved for the next restart; the connectors and pipeline components with their counters; the
// normalizers (shipped packs and the configuration's files) with their definitions and a "try
// this normalizer on a sample" box.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { NavLink, Route, Routes } from 'react-router-dom';
import { api } from '../api/client';
import type { ComponentStatus } from '../api/types';
import {
  sourcesApi,
  type CollectorList,
  type CollectorProblem,
  type MonitoringPolicy,
  type MonitoringPolicySpec,
  type NormalizerInfo,
  type SourcePoint,
  type SourceView,
  type TenantEps,
  type TryResponse,
} from '../api/sources';
import { Dialog, ErrorNotice, fmtNum } from '../components/Common';
import { PV } from '../components/Pivot';
import { YamlEditor } from '../components/YamlEditor';
import { atLeast, useSession } from '../lib/session';
import { ago, fmtTime } from '../lib/time';

export function SourcesPage() {
  return (
    <div className="page">
      <div className="page-head">
        <h1>Sources</h1>
      </div>
      <nav className="tabs" aria-label="Sources">
        {[
          ['/sources', 'Status'],
          ['/sources/policies', 'Monitoring policies'],
          ['/sources/collectors', 'Collectors'],
          ['/sources/normalizers', 'Normalizers'],
          ['/sources/components', 'Connectors and components'],
        ].map(([to, l]) => (
          <NavLink key={to} to={to} end className="tab">
            {l}
          </NavLink>
        ))}
      </nav>
      <Routes>
        <Route index element={<SourceStatus />} />
        <Route path="policies" element={<Policies />} />
        <Route path="collectors" element={<Collectors />} />
        <Route path="normalizers" element={<Normalizers />} />
        <Route path="components" element={<Components />} />
      </Routes>
    </div>
  );
}

// ------------------------------------------------------------------ status

const SPARK_MINUTES = 60;
const REFRESH_MS = 15_000;
/** Sparklines are fetched for this many sources at most (one request each). */
const MAX_SPARKS = 60;

function Spark({ points, label }: { points: number[]; label: string }) {
  const max = Math.max(1e-9, ...points);
  const w = 120;
  const h = 28;
  const n = Math.max(1, points.length - 1);
  const d = points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${((i / n) * w).toFixed(1)},${(h - 2 - (p / max) * (h - 4)).toFixed(1)}`)
    .join(' ');
  return (
    <svg className="spark" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <path d={d} fill="none" stroke="var(--accent)" strokeWidth={1.5} />
    </svg>
  );
}

/** Events per second in each of the last `SPARK_MINUTES` minutes (minutes without events are 0). */
function perMinute(points: SourcePoint[], now: number): number[] {
  const out = new Array<number>(SPARK_MINUTES).fill(0);
  const last = Math.floor(now / 60_000);
  for (const p of points) {
    const i = SPARK_MINUTES - 1 - (last - Math.floor(Date.parse(p.minute) / 60_000));
    if (i >= 0 && i < SPARK_MINUTES) out[i] += p.events / 60;
  }
  return out;
}

function SourceStatus() {
  const { tenant } = useSession();
  const [sources, setSources] = useState<SourceView[] | null>(null);
  const [eps, setEps] = useState<TenantEps[]>([]);
  const [series, setSeries] = useState<Record<string, number[]>>({});
  const [error, setError] = useState<unknown>(null);
  const [filter, setFilter] = useState('');

  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const [page, e] = await Promise.all([sourcesApi.sources(tenant), sourcesApi.eps(tenant)]);
        if (stop) return;
        setSources(page.items);
        setEps(e);
        setError(null);
        const now = Date.now();
        const got = await Promise.all(
          page.items.slice(0, MAX_SPARKS).map((s) =>
            sourcesApi.series(s.tenant, s.id, 1).then(
              (pts) => [`${s.tenant}/${s.id}`, perMinute(pts, now)] as const,
              () => [`${s.tenant}/${s.id}`, [] as number[]] as const,
            ),
          ),
        );
        if (!stop) setSeries(Object.fromEntries(got));
      } catch (err) {
        if (!stop) setError(err);
      }
    };
    void load();
    const t = setInterval(load, REFRESH_MS);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, [tenant]);

  const shown = useMemo(
    () =>
      (sources ?? []).filter(
        (s) => !filter || `${s.id} ${s.collector} ${s.host ?? ''} ${s.ip ?? ''}`.toLowerCase().includes(filter.toLowerCase()),
      ),
    [sources, filter],
  );
  const unhealthy = (sources ?? []).filter((s) => s.breaches.length > 0).length;

  return (
    <>
      <ErrorNotice error={error} what="Source status" />
      <div className="grid" style={{ gridTemplateColumns: 'repeat(auto-fill, minmax(200px, 1fr))', marginBottom: 14 }}>
        {eps.map((e) => (
          <section className="card" key={e.tenant} aria-label={`EPS of tenant ${e.tenant}`}>
            <div className="muted">Tenant {e.tenant}, EPS over 24 h</div>
            <div className="stat"><span className="value">{fmtNum(e.eps_24h)}</span></div>
            <div className="muted">
              {fmtNum(e.events_24h)} events{e.eps_limit ? ` · limit ${fmtNum(e.eps_limit)} EPS` : ''}
            </div>
          </section>
        ))}
        <section className="card" aria-label="Source health">
          <div className="muted">Sources</div>
          <div className="stat"><span className="value">{sources ? sources.length : '…'}</span></div>
          <div className={unhealthy ? 'error-text' : 'muted'}>{unhealthy} breaching a monitoring policy</div>
        </section>
      </div>
      <div className="row" style={{ marginBottom: 8 }}>
        <input
          type="search"
          placeholder="Filter by id, collector, host or address"
          aria-label="Filter sources"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          style={{ minWidth: 300 }}
        />
        <span className="muted">EPS per minute over the last hour; refreshed every {REFRESH_MS / 1000} s</span>
      </div>
      {sources && sources.length === 0 && <div className="empty">No source has sent events to this tenant yet.</div>}
      {shown.length > 0 && (
        <div className="card flush">
          <table className="data" data-testid="sources-table">
            <thead>
              <tr>
                <th>Source</th>
                <th>Kind</th>
                <th>Last hour</th>
                <th className="num">EPS now</th>
                <th className="num">EPS 24 h</th>
                <th>Last event</th>
                <th className="num">Parse errors 24 h</th>
                <th className="num">Drops 24 h</th>
                <th>Health</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((s) => {
                const k = `${s.tenant}/${s.id}`;
                return (
                  <tr key={k}>
                    <td className="mono">
                      <PV field="vigil.source" value={s.collector} />
                      {s.host && (
                        <>
                          {' / '}
                          <PV field="host.name" value={s.host} />
                        </>
                      )}
                      {s.ip && <div className="muted">{s.ip}</div>}
                    </td>
                    <td>{s.kind}</td>
                    <td>{series[k] ? <Spark points={series[k]} label={`events per second of ${s.id} over the last hour`} /> : <span className="muted">…</span>}</td>
                    <td className="num">{fmtNum(s.eps_now)}</td>
                    <td className="num">{fmtNum(s.eps_24h)}</td>
                    <td title={s.last_event_at ? fmtTime(s.last_event_at) : undefined}>{s.last_event_at ? ago(s.last_event_at) : 'never'}</td>
                    <td className="num" style={{ color: s.parse_errors_24h > 0 ? 'var(--danger)' : undefined }}>
                      {fmtNum(s.parse_errors_24h)}
                    </td>
                    <td className="num" style={{ color: s.drops_24h > 0 ? 'var(--danger)' : undefined }}>
                      {fmtNum(s.drops_24h)}
                    </td>
                    <td>
                      {s.breaches.length === 0 ? (
                        <span className="badge ok">healthy</span>
                      ) : (
                        s.breaches.map((b) => (
                          <span key={b.policy_id} className="badge sev-high" title={`policy ${b.policy_id}`}>
                            {b.breach}
                          </span>
                        ))
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}

// ------------------------------------------------------------------ monitoring policies

function emptySpec(tenant: string): MonitoringPolicySpec {
  return { tenant, name: '', kind: 'by_eps', lower: 0.1, upper: null, interval_secs: 300, silent_after_secs: 600, sources: [], enabled: true };
}

function Policies() {
  const { principal, tenant } = useSession();
  const [rows, setRows] = useState<MonitoringPolicy[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<{ id: string | null; spec: MonitoringPolicySpec } | null>(null);
  const canWrite = atLeast(principal, tenant, 'tenant_administrator');
  const load = useCallback(() => sourcesApi.policies(tenant).then(setRows, setError), [tenant]);
  useEffect(() => {
    void load();
  }, [load]);

  return (
    <>
      <div className="row" style={{ marginBottom: 10 }}>
        <p className="muted" style={{ margin: 0, flex: 1 }}>
          A source whose rate leaves the policy's bounds over its interval turns red and raises a monitoring alert; no event
          for the silence threshold marks it silent.
        </p>
        {canWrite && (
          <button className="primary" onClick={() => setEditing({ id: null, spec: emptySpec(tenant) })}>
            New policy
          </button>
        )}
      </div>
      <ErrorNotice error={error} what="Monitoring policies" />
      {rows && rows.length === 0 && <div className="empty">No monitoring policy in this tenant.</div>}
      {rows && rows.length > 0 && (
        <div className="card flush">
          <table className="data" data-testid="policies-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Tenant</th>
                <th>Kind</th>
                <th className="num">Lower</th>
                <th className="num">Upper</th>
                <th className="num">Interval</th>
                <th className="num">Silent after</th>
                <th>Sources</th>
                <th>State</th>
                {canWrite && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <tr key={p.id}>
                  <td>{p.name}</td>
                  <td>{p.tenant}</td>
                  <td>{p.kind === 'by_eps' ? 'events per second' : 'events per interval'}</td>
                  <td className="num">{fmtNum(p.lower)}</td>
                  <td className="num">{p.upper == null ? '–' : fmtNum(p.upper)}</td>
                  <td className="num">{p.interval_secs} s</td>
                  <td className="num">{p.silent_after_secs == null ? '–' : `${p.silent_after_secs} s`}</td>
                  <td className="mono">{p.sources.length ? p.sources.join(', ') : 'all'}</td>
                  <td>{p.enabled ? <span className="badge ok">enabled</span> : <span className="badge">disabled</span>}</td>
                  {canWrite && (
                    <td style={{ whiteSpace: 'nowrap' }}>
                      <button
                        className="small"
                        onClick={() =>
                          setEditing({
                            id: p.id,
                            spec: {
                              tenant: p.tenant,
                              name: p.name,
                              kind: p.kind,
                              lower: p.lower,
                              upper: p.upper,
                              interval_secs: p.interval_secs,
                              silent_after_secs: p.silent_after_secs,
                              sources: p.sources,
                              enabled: p.enabled,
                            },
                          })
                        }
                      >
                        Edit
                      </button>{' '}
                      <button
                        className="small danger"
                        onClick={() => {
                          if (window.confirm(`Delete the policy “${p.name}”?`)) sourcesApi.deletePolicy(p.id).then(load, setError);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing && (
        <PolicyDialog
          id={editing.id}
          initial={editing.spec}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            void load();
          }}
        />
      )}
    </>
  );
}

function PolicyDialog({
  id,
  initial,
  onClose,
  onSaved,
}: {
  id: string | null;
  initial: MonitoringPolicySpec;
  onClose: () => void;
  onSaved: () => void;
}) {
  const { tenants } = useSession();
  const [s, setS] = useState(initial);
  const [sources, setSources] = useState((initial.sources ?? []).join(', '));
  const [error, setError] = useState<unknown>(null);
  const num = (v: string): number | null => (v.trim() === '' ? null : Number(v));
  const save = () => {
    const spec = { ...s, sources: sources.split(',').map((x) => x.trim()).filter(Boolean) };
    (id ? sourcesApi.replacePolicy(id, spec) : sourcesApi.createPolicy(spec)).then(onSaved, setError);
  };
  return (
    <Dialog
      title={id ? `Edit ${initial.name}` : 'New monitoring policy'}
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" onClick={save} disabled={!s.name.trim()}>
            {id ? 'Save' : 'Create'}
          </button>
        </>
      }
    >
      <div style={{ display: 'flex', flexDirection: 'column', gap: 10 }}>
        <label className="field">
          Name
          <input value={s.name} onChange={(e) => setS({ ...s, name: e.target.value })} />
        </label>
        <label className="field">
          Tenant
          <select value={s.tenant} disabled={!!id} onChange={(e) => setS({ ...s, tenant: e.target.value })}>
            {tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Counts
          <select value={s.kind} onChange={(e) => setS({ ...s, kind: e.target.value as MonitoringPolicySpec['kind'] })}>
            <option value="by_eps">events per second, averaged over the interval</option>
            <option value="by_count">events per interval</option>
          </select>
        </label>
        <label className="field">
          Lower bound
          <input type="number" min={0} step="any" value={s.lower} onChange={(e) => setS({ ...s, lower: Number(e.target.value) })} />
        </label>
        <label className="field">
          Upper bound (empty: none)
          <input type="number" min={0} step="any" value={s.upper ?? ''} onChange={(e) => setS({ ...s, upper: num(e.target.value) })} />
        </label>
        <label className="field">
          Interval, seconds
          <input type="number" min={1} value={s.interval_secs} onChange={(e) => setS({ ...s, interval_secs: Number(e.target.value) })} />
        </label>
        <label className="field">
          Silent after, seconds (empty: never)
          <input
            type="number"
            min={1}
            value={s.silent_after_secs ?? ''}
            onChange={(e) => setS({ ...s, silent_after_secs: num(e.target.value) })}
          />
        </label>
        <label className="field">
          Sources (comma-separated ids; empty: every source of the tenant)
          <input value={sources} onChange={(e) => setSources(e.target.value)} placeholder="fw, web/web1" />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={s.enabled} onChange={(e) => setS({ ...s, enabled: e.target.checked })} />
          Enabled
        </label>
      </div>
      <ErrorNotice error={error} />
    </Dialog>
  );
}

// ------------------------------------------------------------------ collectors

const NEW_COLLECTOR = (tenant: string) =>
  `id: new-collector\ntenant: ${tenant}\nconnector:\n  type: syslog\n  udp: 127.0.0.1:5515\nnormalizer:\n  type: auto\n`;

/** A short line of a connector's main options (addresses, paths, URLs; secrets come masked). */
function optionSummary(o: unknown): string {
  if (!o || typeof o !== 'object') return '';
  const keep = ['listen', 'udp', 'tcp', 'url', 'paths', 'brokers', 'topics', 'stream'];
  return Object.entries(o as Record<string, unknown>)
    .filter(([k]) => keep.includes(k))
    .map(([k, v]) => `${k} ${Array.isArray(v) ? v.join(', ') : typeof v === 'object' && v ? (v as { listen?: string }).listen ?? '' : String(v)}`)
    .join(' · ');
}

function Collectors() {
  const { principal, tenant } = useSession();
  const [list, setList] = useState<CollectorList | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<{ id: string | null; yaml: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const canWrite = atLeast(principal, tenant, 'tenant_administrator');
  const load = useCallback(() => sourcesApi.collectors(tenant).then(setList, setError), [tenant]);
  useEffect(() => {
    void load();
  }, [load]);
  const editable = !!list?.editable && canWrite;

  return (
    <>
      <ErrorNotice error={error} what="The collectors" />
      {list && (
        <div className={list.restart_pending ? 'notice warn' : 'notice'} role="status" data-testid="collectors-file">
          {list.config_file ? (
            <>
              Collectors of <code className="mono">{list.config_file}</code>.{' '}
            </>
          ) : (
            <>This instance runs the built-in default configuration: start it with <code className="mono">--config FILE</code> to edit collectors. </>
          )}
          {list.restart_pending && <strong>Saved changes are waiting for a restart. </strong>}
          <span className="muted">{list.takes_effect}</span>
        </div>
      )}
      {saved && (
        <div className="notice ok" role="status" data-testid="collector-saved">
          {saved}
        </div>
      )}
      <div className="row" style={{ margin: '10px 0' }}>
        <p className="muted" style={{ margin: 0, flex: 1 }}>
          Each collector is a connector (where events come from), a normalizer (how lines become events) and a tenant. Secrets
          (tokens, passwords) are shown masked; leave the mask to keep the stored value.
        </p>
        {editable && (
          <button className="primary" onClick={() => setEditing({ id: null, yaml: NEW_COLLECTOR(tenant) })}>
            New collector
          </button>
        )}
      </div>
      {list && list.collectors.length === 0 && <div className="empty">No collector sends to this tenant.</div>}
      {list && list.collectors.length > 0 && (
        <div className="card flush">
          <table className="data" data-testid="collectors-table">
            <thead>
              <tr>
                <th>Collector</th>
                <th>Tenant</th>
                <th>Connector</th>
                <th>Options</th>
                <th>Normalizer</th>
                <th className="num">Transforms</th>
                {editable && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {list.collectors.map((c) => (
                <tr key={c.id}>
                  <td className="mono">
                    <PV field="vigil.source" value={c.id} />
                  </td>
                  <td>{c.tenant}</td>
                  <td className="mono">{c.connector}</td>
                  <td className="mono" style={{ maxWidth: 360, overflowWrap: 'anywhere' }}>
                    {optionSummary(c.options)}
                  </td>
                  <td className="mono">
                    {c.normalizer}
                    {c.normalizer_name ? ` ${c.normalizer_name}` : ''}
                  </td>
                  <td className="num">{c.transforms}</td>
                  {editable && (
                    <td style={{ whiteSpace: 'nowrap' }}>
                      <button className="small" onClick={() => setEditing({ id: c.id, yaml: c.yaml })} aria-label={`Edit ${c.id}`}>
                        Edit
                      </button>{' '}
                      <button
                        className="small danger"
                        aria-label={`Delete ${c.id}`}
                        onClick={() => {
                          if (window.confirm(`Remove the collector “${c.id}” from the configuration? It stops at the next restart.`))
                            sourcesApi.deleteCollector(c.id).then((r) => {
                              setSaved(`Removed ${c.id} from ${r.config_file}. ${r.takes_effect}`);
                              void load();
                            }, setError);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {editing && (
        <CollectorEditor
          key={editing.id ?? '(new)'}
          id={editing.id}
          initial={editing.yaml}
          onClose={() => setEditing(null)}
          onSaved={(msg) => {
            setEditing(null);
            setSaved(msg);
            void load();
          }}
        />
      )}
    </>
  );
}

function CollectorEditor({
  id,
  initial,
  onClose,
  onSaved,
}: {
  id: string | null;
  initial: string;
  onClose: () => void;
  onSaved: (message: string) => void;
}) {
  const [text, setText] = useState(initial);
  const [problems, setProblems] = useState<CollectorProblem[] | null>(null);
  const [checking, setChecking] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);

  // validated as it is typed, against the whole configuration
  useEffect(() => {
    const c = new AbortController();
    setChecking(true);
    const t = setTimeout(() => {
      sourcesApi.validateCollector(id, text, c.signal).then(
        (r) => {
          setProblems(r.problems);
          setError(null);
          setChecking(false);
        },
        (e) => {
          if ((e as Error).name !== 'AbortError') {
            setError(e);
            setChecking(false);
          }
        },
      );
    }, 350);
    return () => {
      clearTimeout(t);
      c.abort();
    };
  }, [id, text]);

  const newId = /^id:\s*["']?([^"'\s#]+)/m.exec(text)?.[1] ?? '';
  const save = () => {
    setSaving(true);
    sourcesApi
      .saveCollector(id ?? newId, text)
      .then((r) => onSaved(`Saved ${r.collector?.id ?? newId} to ${r.config_file}. ${r.takes_effect}`), setError)
      .finally(() => setSaving(false));
  };
  const valid = problems !== null && problems.length === 0;

  return (
    <section className="card" style={{ marginTop: 14 }} aria-label={id ? `Edit collector ${id}` : 'New collector'}>
      <div className="card-head">
        <h2>{id ? <>Edit collector <span className="mono">{id}</span></> : 'New collector'}</h2>
      </div>
      <YamlEditor
        value={text}
        onChange={setText}
        label={id ? `Collector ${id} (YAML)` : 'New collector (YAML)'}
        problems={(problems ?? []).map((p) => ({
          severity: 'error',
          line: p.line,
          message: p.path ? `${p.path}: ${p.message}` : p.message,
        }))}
      />
      <div role="status" style={{ marginTop: 6 }} data-testid="collector-validation">
        {problems === null || checking ? (
          <span className="muted">Checking…</span>
        ) : valid ? (
          <span className="ok-text">The collector is valid.</span>
        ) : (
          <ul className="error-text" style={{ margin: 0, paddingLeft: 18 }}>
            {problems.map((p, i) => (
              <li key={i} className="mono">
                {p.line ? `line ${p.line}: ` : ''}
                {p.path ? `${p.path}: ` : ''}
                {p.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      <ErrorNotice error={error} />
      <div className="row" style={{ marginTop: 10, justifyContent: 'flex-end' }}>
        <button onClick={onClose}>Cancel</button>
        <button className="primary" onClick={save} disabled={!valid || checking || saving || !(id ?? newId)} data-testid="save-collector">
          {saving ? 'Saving…' : 'Save for the next restart'}
        </button>
      </div>
    </section>
  );
}

// ------------------------------------------------------------------ normalizers

const SAMPLE_HINT = 'Paste sample lines, one record per line';

function Normalizers() {
  const { tenant } = useSession();
  const [packs, setPacks] = useState<NormalizerInfo[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [picked, setPicked] = useState<string>('');
  const [filter, setFilter] = useState('');
  const [custom, setCustom] = useState(false);
  const [definition, setDefinition] = useState('');
  const [lines, setLines] = useState('');
  const [tz, setTz] = useState('UTC');
  const [result, setResult] = useState<TryResponse | null>(null);
  const [running, setRunning] = useState(false);
  const [tryError, setTryError] = useState<unknown>(null);

  useEffect(() => {
    sourcesApi.normalizers(tenant).then((p) => {
      setPacks(p);
      setPicked((cur) => cur || (p.find((x) => x.name === 'sshd')?.name ?? p[0]?.name ?? ''));
    }, setError);
  }, [tenant]);

  const pack = packs?.find((p) => p.name === picked);
  useEffect(() => {
    setResult(null);
    setTryError(null);
    if (pack) setDefinition(pack.definition);
  }, [pack]);

  // a custom definition is validated as it is typed (no lines: validation only)
  const validating = useRef<AbortController | null>(null);
  useEffect(() => {
    if (!custom || !definition.trim()) return;
    const t = setTimeout(() => {
      validating.current?.abort();
      const c = new AbortController();
      validating.current = c;
      sourcesApi.tryNormalizer({ tenant, definition, lines: [] }, c.signal).then(
        (r) => setResult((cur) => (cur && cur.results.length && r.valid ? cur : r)),
        () => {},
      );
    }, 400);
    return () => clearTimeout(t);
  }, [custom, definition, tenant]);

  const run = () => {
    setRunning(true);
    setTryError(null);
    const sample = lines.split('\n').filter((l) => l.trim() !== '');
    sourcesApi
      .tryNormalizer(
        custom ? { tenant, definition, lines: sample, timezone: tz } : { tenant, normalizer: picked, lines: sample, timezone: tz },
      )
      .then(setResult, setTryError)
      .finally(() => setRunning(false));
  };

  const shownPacks = (packs ?? []).filter(
    (p) => !filter || `${p.name} ${p.product ?? ''} ${p.parser ?? ''}`.toLowerCase().includes(filter.toLowerCase()),
  );

  return (
    <>
      <ErrorNotice error={error} what="The normalizer list" />
      <div className="split" style={{ display: 'grid', gridTemplateColumns: 'minmax(220px, 300px) 1fr', gap: 14, alignItems: 'start' }}>
        <section className="card flush" aria-label="Normalizer packs">
          <div style={{ padding: 8 }}>
            <input
              type="search"
              placeholder="Filter packs"
              aria-label="Filter normalizer packs"
              value={filter}
              onChange={(e) => setFilter(e.target.value)}
              style={{ width: '100%' }}
            />
          </div>
          <ul className="picklist" data-testid="normalizer-list">
            {shownPacks.map((p) => (
              <li key={p.name}>
                <button className={p.name === picked ? 'ghost selected' : 'ghost'} aria-pressed={p.name === picked} onClick={() => setPicked(p.name)}>
                  <span className="mono">{p.name}</span>
                  <span className="muted" style={{ fontSize: 12 }}>
                    {p.source === 'file' ? `file · ${p.collectors.join(', ')}` : `${p.parser ?? 'routes'} · ${p.product ?? ''}`}
                  </span>
                </button>
              </li>
            ))}
          </ul>
        </section>
        <div style={{ minWidth: 0 }}>
          {pack && (
            <section className="card" aria-label={`Normalizer ${pack.name}`} style={{ marginBottom: 14 }}>
              <div className="card-head">
                <h2 className="mono">{pack.name}</h2>
                <span className="spacer" />
                <label className="row" style={{ gap: 6 }}>
                  <input
                    type="checkbox"
                    checked={custom}
                    onChange={(e) => {
                      setCustom(e.target.checked);
                      setResult(null);
                    }}
                    data-testid="edit-definition"
                  />
                  Edit a copy and validate it
                </label>
              </div>
              <p className="muted" style={{ marginTop: 0 }}>
                {pack.product}
                {pack.description ? ` — ${pack.description}` : ''}
                {` · ${pack.file ? `${pack.file}, used by ${pack.collectors.join(', ')}` : `packs/${pack.pack}/normalizer.yaml`} · parser ${pack.parser ?? 'none (routes to children)'}${pack.detect ? ' · auto-detectable' : ''}`}
              </p>
              {pack.error && (
                <div className="notice warn" role="status">
                  This file does not compile: <span className="mono">{pack.error}</span>
                </div>
              )}
              <YamlEditor
                value={custom ? definition : pack.definition}
                onChange={setDefinition}
                problems={
                  custom && result && !result.valid
                    ? result.errors.map((e) => ({ severity: 'error', message: `${e.path}: ${e.message}` }))
                    : []
                }
                label={custom ? 'Normalizer definition (editable copy)' : 'Normalizer definition'}
                readOnly={!custom}
              />
              {custom && result && (
                <div role="status" style={{ marginTop: 6 }} data-testid="definition-validation">
                  {result.valid ? (
                    <span className="ok-text">The definition is valid{result.normalizer ? ` (${result.normalizer})` : ''}.</span>
                  ) : (
                    <ul className="error-text" style={{ margin: 0, paddingLeft: 18 }}>
                      {result.errors.map((e, i) => (
                        <li key={i} className="mono">
                          {e.path}: {e.message}
                        </li>
                      ))}
                    </ul>
                  )}
                </div>
              )}
            </section>
          )}
          <section className="card" aria-label="Try this normalizer on a sample">
            <div className="card-head">
              <h2>Try {custom ? 'this definition' : 'this normalizer'} on a sample</h2>
            </div>
            <textarea
              aria-label={SAMPLE_HINT}
              placeholder={SAMPLE_HINT}
              rows={5}
              value={lines}
              onChange={(e) => setLines(e.target.value)}
              className="mono"
              style={{ width: '100%' }}
              data-testid="sample-lines"
            />
            <div className="row" style={{ marginTop: 8 }}>
              <label className="row" style={{ gap: 6 }}>
                Time zone
                <input value={tz} onChange={(e) => setTz(e.target.value)} style={{ width: 160 }} aria-label="Time zone of times without an offset" />
              </label>
              <span className="spacer" style={{ flex: 1 }} />
              <button className="primary" onClick={run} disabled={running || !lines.trim() || !picked} data-testid="try-normalizer">
                {running ? 'Running…' : 'Parse the sample'}
              </button>
            </div>
            <ErrorNotice error={tryError} />
            {result && result.results.length > 0 && <TryResults r={result} />}
          </section>
        </div>
      </div>
    </>
  );
}

function flatten(v: unknown, prefix = '', out: [string, string][] = []): [string, string][] {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out.push([prefix, typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return out;
}

function TryResults({ r }: { r: TryResponse }) {
  const [asJson, setAsJson] = useState(false);
  return (
    <div data-testid="try-results" style={{ marginTop: 12 }}>
      <div className="row" style={{ marginBottom: 6 }}>
        <strong>
          {r.parsed} of {r.results.length} lines parsed by {r.normalizer}
        </strong>
        <span className="spacer" style={{ flex: 1 }} />
        <label className="row" style={{ gap: 6 }}>
          <input type="checkbox" checked={asJson} onChange={(e) => setAsJson(e.target.checked)} />
          Show JSON
        </label>
      </div>
      {r.results.map((l, i) => (
        <div key={i} className="card" style={{ marginBottom: 8, padding: 10 }}>
          <div className="row" style={{ flexWrap: 'nowrap', alignItems: 'baseline' }}>
            {l.parsed ? <span className="badge ok">parsed</span> : <span className="badge sev-high">not parsed</span>}
            <code className="mono" style={{ overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
              {l.line}
            </code>
          </div>
          {l.parse_error && <div className="error-text mono">{l.parse_error}</div>}
          {l.partial_errors.map((e, j) => (
            <div key={j} className="error-text mono">
              {e}
            </div>
          ))}
          {asJson ? (
            <pre className="mono" style={{ whiteSpace: 'pre-wrap', margin: '6px 0 0' }}>
              {JSON.stringify(l.event, null, 2)}
            </pre>
          ) : (
            <table className="kv" style={{ marginTop: 6 }}>
              <tbody>
                {flatten(l.event)
                  .filter(([k]) => k !== 'event.original' && !k.startsWith('vigil.raw'))
                  .map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row" className="mono">
                        {k}
                      </th>
                      <td className="mono">{v}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
        </div>
      ))}
    </div>
  );
}

// ------------------------------------------------------------------ components

const EVERY_MS = 5000;
const KEEP = 60;
const ORDER = ['connector', 'normalizer', 'pipeline', 'detection', 'destination', 'api'];
const TITLE: Record<string, string> = {
  connector: 'Connectors',
  normalizer: 'Normalizers',
  pipeline: 'Pipeline',
  detection: 'Detection',
  destination: 'Destinations',
  api: 'API',
};

function Counts({ m, bad }: { m: Record<string, number>; bad?: boolean }) {
  return (
    <>
      {Object.entries(m).map(([k, v]) => (
        <div key={k} className="mono" style={{ color: bad && v > 0 ? 'var(--danger)' : undefined }}>
          {k} {fmtNum(v)}
        </div>
      ))}
    </>
  );
}

/** Every running component's counters (/api/v1/status), with rates sampled while the page is open. */
function Components() {
  const [comps, setComps] = useState<ComponentStatus[]>([]);
  const [error, setError] = useState<unknown>(null);
  const history = useRef(new Map<string, { t: number; n: number }[]>());
  const [, setTick] = useState(0);

  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const s = await api.status();
        if (stop) return;
        const now = Date.now();
        for (const c of s.components) {
          const k = `${c.kind}/${c.id}`;
          const h = history.current.get(k) ?? [];
          h.push({ t: now, n: c.events_in });
          if (h.length > KEEP + 1) h.shift();
          history.current.set(k, h);
        }
        setComps(s.components);
        setError(null);
        setTick((x) => x + 1);
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    void poll();
    const t = setInterval(poll, EVERY_MS);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);

  const rates = (k: string) => {
    const h = history.current.get(k) ?? [];
    const out: number[] = [];
    for (let i = 1; i < h.length; i++) out.push(Math.max(0, (h[i].n - h[i - 1].n) / ((h[i].t - h[i - 1].t) / 1000)));
    return out;
  };
  const kinds = useMemo(
    () => [...new Set(comps.map((c) => c.kind))].sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b)),
    [comps],
  );

  return (
    <>
      <p className="muted" style={{ marginTop: 0 }}>
        Counters since the server started; rates sampled every {EVERY_MS / 1000} s while this page is open.
      </p>
      <ErrorNotice error={error} />
      {kinds.map((kind) => (
        <section className="card flush" key={kind} style={{ marginBottom: 14 }} aria-label={TITLE[kind] ?? kind}>
          <div className="card-head" style={{ padding: '12px 14px 4px' }}>
            <h2>{TITLE[kind] ?? kind}</h2>
          </div>
          <table className="data">
            <thead>
              <tr>
                <th>Id</th>
                <th>Events per second</th>
                <th className="num">Events in</th>
                <th className="num">Events out</th>
                <th className="num">Bytes in</th>
                <th>Errors</th>
                <th>Drops</th>
                <th>Gauges</th>
              </tr>
            </thead>
            <tbody>
              {comps
                .filter((c) => c.kind === kind)
                .map((c) => {
                  const r = rates(`${c.kind}/${c.id}`);
                  return (
                    <tr key={c.id}>
                      <td className="mono">{kind === 'connector' ? <PV field="vigil.source" value={c.id} /> : c.id}</td>
                      <td>
                        <div className="row" style={{ flexWrap: 'nowrap' }}>
                          <Spark points={r} label={`events per second of ${c.id}`} />
                          <span className="mono">{r.length ? fmtNum(r[r.length - 1]) : '…'}</span>
                        </div>
                      </td>
                      <td className="num">{fmtNum(c.events_in)}</td>
                      <td className="num">{fmtNum(c.events_out)}</td>
                      <td className="num">{fmtNum(c.bytes_in)}</td>
                      <td>
                        <Counts m={c.errors} bad />
                      </td>
                      <td>
                        <Counts m={c.drops} bad />
                      </td>
                      <td>
                        <Counts m={c.gauges} />
                      </td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}
