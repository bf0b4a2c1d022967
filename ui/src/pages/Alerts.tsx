// The alert queue (grouped by rule by default, filters, bulk actions) and the alert page.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { alertEvents, matchIndex, type AlertBaseEvent } from '../api/alertEvents';
import { api } from '../api/client';
import type {
  Alert,
  AlertChangeRequest,
  AlertDetail,
  AlertHistory,
  AlertStatus,
  Entity,
  EventDoc,
  Resolution,
  Severity,
} from '../api/types';
import { ALERT_STATUSES, RESOLUTIONS, SEVERITIES } from '../api/types';
import { Dialog, ErrorNotice, fmtNum, SeverityBadge, StatusBadge } from '../components/Common';
import { EventDrawer } from '../components/EventDrawer';
import { PV } from '../components/Pivot';
import { display, flatten } from '../lib/query';
import { useSession } from '../lib/session';
import { ago, fmtTime } from '../lib/time';

const ENTITY_FIELD: Record<string, string> = {
  host: 'host.name',
  user: 'user.name',
  ip: 'source.ip',
  process: 'process.name',
  file: 'file.path',
  hash: 'file.hash.sha256',
  domain: 'url.domain',
  url: 'url.full',
};

function myUserId(p: ReturnType<typeof useSession>['principal']): string | null {
  return p.kind === 'user' ? p.id : p.user_id;
}

export function AlertsPage() {
  const { tenant, principal } = useSession();
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? 'new,assigned';
  const minSeverity = (params.get('severity') ?? '') as Severity | '';
  const assignee = params.get('assignee') ?? '';
  const ruleQ = params.get('rule') ?? '';
  const entity = params.get('entity') ?? '';
  const since = params.get('since') ?? '';
  const grouped = params.get('view') !== 'flat';
  const [alerts, setAlerts] = useState<Alert[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(false);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [collapsed, setCollapsed] = useState<Set<string>>(new Set());
  const [closing, setClosing] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const me = myUserId(principal);

  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };

  const query = useMemo(
    () => ({
      tenant,
      status: status || undefined,
      min_severity: minSeverity || undefined,
      assignee: assignee && assignee !== '-' ? assignee : undefined,
      unassigned: assignee === '-' ? true : undefined,
      q: ruleQ || undefined,
      entity: entity || undefined,
      since: since ? new Date(Date.now() - (Number(since) || 24) * 3600e3).toISOString() : undefined,
      limit: 200,
    }),
    [tenant, status, minSeverity, assignee, ruleQ, entity, since],
  );

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    api
      .alerts(query, ctl.signal)
      .then((p) => {
        setAlerts(p.items);
        setCursor(p.next_cursor);
        setError(null);
        setSelected(new Set());
      })
      .catch((e) => !ctl.signal.aborted && setError(e))
      .finally(() => !ctl.signal.aborted && setLoading(false));
    return () => ctl.abort();
  }, [query, reload]);

  const loadingMore = useRef(false);
  const more = useCallback(async () => {
    if (!cursor || loadingMore.current) return;
    loadingMore.current = true;
    try {
      const p = await api.alerts({ ...query, cursor });
      setAlerts((a) => [...a, ...p.items]);
      setCursor(p.next_cursor);
    } catch (e) {
      setError(e);
    } finally {
      loadingMore.current = false;
    }
  }, [cursor, query]);

  const groups = useMemo(() => {
    const m = new Map<string, Alert[]>();
    for (const a of alerts) {
      const k = grouped ? a.rule_name || a.rule_id : '';
      if (!m.has(k)) m.set(k, []);
      m.get(k)!.push(a);
    }
    return [...m.entries()];
  }, [alerts, grouped]);

  // The queue is virtualized and paged: only the rows on screen (and a few more) are in the
  // DOM, and the next page of 200 is read when the last loaded rows scroll into view, so a
  // queue of 10,000 alerts is never read, nor drawn, all at once.
  const rows = useMemo(() => {
    const out: QueueRow[] = [];
    for (const [rule, list] of groups) {
      if (grouped) out.push({ kind: 'head', rule, list });
      if (!grouped || !collapsed.has(rule)) for (const a of list) out.push({ kind: 'alert', a });
    }
    return out;
  }, [groups, grouped, collapsed]);
  const scroller = useRef<HTMLDivElement>(null);
  const virt = useVirtualizer({ count: rows.length, getScrollElement: () => scroller.current, estimateSize: () => 41, overscan: 12 });
  const vItems = virt.getVirtualItems();
  const lastShown = vItems.length ? vItems[vItems.length - 1].index : -1;
  useEffect(() => {
    if (cursor && lastShown >= rows.length - 30) void more();
  }, [cursor, lastShown, rows.length, more]);
  const padTop = vItems.length ? vItems[0].start : 0;
  const padBottom = vItems.length ? virt.getTotalSize() - vItems[vItems.length - 1].end : 0;

  const toggle = (ids: string[], on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      ids.forEach((id) => (on ? n.add(id) : n.delete(id)));
      return n;
    });

  const bulk = async (update: AlertChangeRequest, what: string) => {
    try {
      const r = await api.bulkAlerts([...selected], update);
      setNotice(`${what}: ${r.updated} updated${r.failed ? `, ${r.failed} failed (${r.items.find((i) => !i.ok)?.error?.message ?? ''})` : ''}.`);
      setReload((x) => x + 1);
    } catch (e) {
      setError(e);
    }
  };

  const allIds = alerts.map((a) => a.id);
  return (
    <div className="page">
      <div className="page-head">
        <h1>Alerts</h1>
        <span className="muted">{error ? '' : loading ? 'Loading…' : `${fmtNum(alerts.length)}${cursor ? '+' : ''} alerts`}</span>
        <span className="spacer" />
        <label className="checkbox">
          <input type="checkbox" checked={grouped} onChange={(e) => set('view', e.target.checked ? '' : 'flat')} /> Group by rule
        </label>
      </div>
      <div className="card row" style={{ marginBottom: 12 }} role="search" aria-label="Alert filters">
        <select aria-label="Status" value={status} onChange={(e) => set('status', e.target.value)}>
          <option value="new,assigned">Open (new, assigned)</option>
          <option value="new,assigned,escalated">Open and in incident</option>
          {ALERT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
          <option value="">any status</option>
        </select>
        <select aria-label="Minimum severity" value={minSeverity} onChange={(e) => set('severity', e.target.value)}>
          <option value="">any severity</option>
          {SEVERITIES.map((s) => (
            <option key={s} value={s}>
              {s} and above
            </option>
          ))}
        </select>
        <select aria-label="Assignee" value={assignee === '' || assignee === '-' || assignee === me ? assignee : 'other'} onChange={(e) => set('assignee', e.target.value === 'other' ? assignee : e.target.value)}>
          <option value="">anyone</option>
          <option value="-">unassigned</option>
          {me && <option value={me}>assigned to me</option>}
        </select>
        <input data-search aria-label="Rule name contains" placeholder="Rule name contains" value={ruleQ} onChange={(e) => set('rule', e.target.value)} />
        <input aria-label="Entity (kind:value)" placeholder="Entity, e.g. host:web1" value={entity} onChange={(e) => set('entity', e.target.value)} />
        <select aria-label="Time" value={since} onChange={(e) => set('since', e.target.value)}>
          <option value="">any time</option>
          <option value="1">last hour</option>
          <option value="24">last 24 hours</option>
          <option value="168">last 7 days</option>
        </select>
      </div>
      {notice && (
        <div className="notice" role="status" style={{ marginBottom: 10 }}>
          {notice}
        </div>
      )}
      <ErrorNotice error={error} what="The alert queue" />
      {selected.size > 0 && (
        <div className="bulkbar" role="toolbar" aria-label="Bulk actions">
          <strong>{selected.size} selected</strong>
          {me && <button onClick={() => bulk({ assignee: me, status: 'assigned' }, 'Assigned to you')}>Assign to me</button>}
          <button onClick={() => bulk({ assignee: null }, 'Unassigned')}>Unassign</button>
          <select aria-label="Set status" value="" onChange={(e) => e.target.value && bulk({ status: e.target.value as AlertStatus }, `Status ${e.target.value}`)}>
            <option value="">Set status…</option>
            <option value="new">new</option>
            <option value="assigned">assigned</option>
          </select>
          <button className="primary" onClick={() => setClosing(true)}>
            Close…
          </button>
          <button className="ghost" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        </div>
      )}
      {!error && (
        <div className="card flush queue-scroll" ref={scroller} data-testid="alert-queue" data-rows={rows.length}>
          <table className="data">
            <thead>
              <tr>
                <th style={{ width: 32 }}>
                  <input
                    type="checkbox"
                    aria-label="Select all alerts"
                    checked={allIds.length > 0 && allIds.every((id) => selected.has(id))}
                    onChange={(e) => toggle(allIds, e.target.checked)}
                  />
                </th>
                <th>Severity</th>
                <th>Rule</th>
                <th>Entities</th>
                <th className="num">Events</th>
                <th className="num">Risk</th>
                <th>Status</th>
                <th>Assignee</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {padTop > 0 && <tr aria-hidden="true" style={{ height: padTop }} />}
              {vItems.map((it) => {
                const r = rows[it.index];
                return r.kind === 'head' ? (
                  <GroupHead
                    key={`h:${r.rule}`}
                    index={it.index}
                    measure={virt.measureElement}
                    rule={r.rule}
                    list={r.list}
                    collapsed={collapsed.has(r.rule)}
                    onCollapse={() =>
                      setCollapsed((c) => {
                        const n = new Set(c);
                        if (n.has(r.rule)) n.delete(r.rule);
                        else n.add(r.rule);
                        return n;
                      })
                    }
                    selected={selected}
                    toggle={toggle}
                  />
                ) : (
                  <AlertRow key={r.a.id} index={it.index} measure={virt.measureElement} a={r.a} selected={selected.has(r.a.id)} toggle={toggle} />
                );
              })}
              {padBottom > 0 && <tr aria-hidden="true" style={{ height: padBottom }} />}
              {!loading && alerts.length === 0 && (
                <tr>
                  <td colSpan={9} className="empty">
                    No alerts match these filters.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <div className="row" style={{ marginTop: 8 }}>
          <button onClick={() => void more()}>Load more alerts</button>
        </div>
      )}
      {closing && (
        <CloseDialog
          count={selected.size}
          onClose={() => setClosing(false)}
          onConfirm={(resolution, reason) => {
            setClosing(false);
            void bulk({ status: 'closed', resolution, resolution_reason: reason || undefined }, 'Closed');
          }}
        />
      )}
    </div>
  );
}

type QueueRow = { kind: 'head'; rule: string; list: Alert[] } | { kind: 'alert'; a: Alert };

function GroupHead({
  index,
  measure,
  rule,
  list,
  collapsed,
  onCollapse,
  selected,
  toggle,
}: {
  index: number;
  measure: (el: Element | null) => void;
  rule: string;
  list: Alert[];
  collapsed: boolean;
  onCollapse: () => void;
  selected: Set<string>;
  toggle: (ids: string[], on: boolean) => void;
}) {
  const ids = list.map((a) => a.id);
  const worst = list.reduce<Severity>((w, a) => (SEVERITIES.indexOf(a.severity) > SEVERITIES.indexOf(w) ? a.severity : w), 'low');
  return (
    <tr className="group-head" data-index={index} ref={measure}>
      <td>
        <input type="checkbox" aria-label={`Select every alert of ${rule}`} checked={ids.every((id) => selected.has(id))} onChange={(e) => toggle(ids, e.target.checked)} />
      </td>
      <td>
        <SeverityBadge s={worst} />
      </td>
      <td colSpan={7}>
        <button className="ghost small" onClick={onCollapse} aria-expanded={!collapsed}>
          {collapsed ? '▸' : '▾'} {rule}
        </button>{' '}
        <span className="muted">
          {list.length} alert{list.length === 1 ? '' : 's'} · {fmtNum(list.reduce((s, a) => s + a.count, 0))} events
        </span>
      </td>
    </tr>
  );
}

function AlertRow({
  index,
  measure,
  a,
  selected,
  toggle,
}: {
  index: number;
  measure: (el: Element | null) => void;
  a: Alert;
  selected: boolean;
  toggle: (ids: string[], on: boolean) => void;
}) {
  const navigate = useNavigate();
  return (
    <tr className={selected ? 'selected' : undefined} data-index={index} ref={measure}>
      <td>
        <input type="checkbox" aria-label={`Select alert ${a.rule_name} ${a.id}`} checked={selected} onChange={(e) => toggle([a.id], e.target.checked)} />
      </td>
      <td>
        <SeverityBadge s={a.severity} />
      </td>
      <td>
        <Link to={`/alerts/${a.id}`} onClick={(e) => { e.preventDefault(); navigate(`/alerts/${a.id}`); }}>
          {a.rule_name}
        </Link>
      </td>
      <td>
        {a.entities.slice(0, 4).map((e, i) => (
          <span key={i} style={{ marginRight: 8 }}>
            <span className="muted">{e.kind}</span> <PV field={ENTITY_FIELD[e.kind] ?? e.kind} value={e.value} />
          </span>
        ))}
        {a.entities.length > 4 && <span className="muted">+{a.entities.length - 4}</span>}
      </td>
      <td className="num">{fmtNum(a.count)}</td>
      <td className="num">{a.risk_score}</td>
      <td>
        <StatusBadge s={a.status} />
      </td>
      <td>{a.assignee ?? <span className="muted">—</span>}</td>
      <td title={fmtTime(a.last_seen)}>{ago(a.last_seen)}</td>
    </tr>
  );
}

function CloseDialog({ count, onClose, onConfirm }: { count: number; onClose: () => void; onConfirm: (r: Resolution, reason: string) => void }) {
  const [resolution, setResolution] = useState<Resolution>('false_positive');
  const [reason, setReason] = useState('');
  return (
    <Dialog
      title={`Close ${count} alert${count === 1 ? '' : 's'}`}
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" onClick={() => onConfirm(resolution, reason)}>
            Close alerts
          </button>
        </>
      }
    >
      <label className="field">
        Resolution
        <select value={resolution} onChange={(e) => setResolution(e.target.value as Resolution)}>
          {RESOLUTIONS.map((r) => (
            <option key={r} value={r}>
              {r.replace('_', ' ')}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        Reason
        <textarea rows={3} value={reason} onChange={(e) => setReason(e.target.value)} placeholder="What was found" />
      </label>
    </Dialog>
  );
}

export function AlertDetailPage() {
  const { id = '' } = useParams();
  const { principal, tenant } = useSession();
  const navigate = useNavigate();
  const [alert, setAlert] = useState<AlertDetail | null>(null);
  const [history, setHistory] = useState<AlertHistory | null>(null);
  const [events, setEvents] = useState<EventDoc[] | null>(null);
  const [explained, setExplained] = useState<AlertBaseEvent[] | null>(null);
  const [openMatched, setOpenMatched] = useState<AlertBaseEvent | null>(null);
  const [related, setRelated] = useState<Alert[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [comment, setComment] = useState('');
  const [closing, setClosing] = useState(false);
  const [openEvent, setOpenEvent] = useState<EventDoc | null>(null);
  const [linkTo, setLinkTo] = useState(false);
  const me = myUserId(principal);

  const load = useCallback(async () => {
    try {
      const a = await api.alert(id);
      setAlert(a);
      setError(null);
      api.alertHistory(id).then(setHistory, () => setHistory(null));
      if (a.event_ids.length) {
        // the base events with what matched in each; servers that cannot say (no correlator)
        // get the events by id, without highlighting
        const byId = () => {
          const q = `vigil.event_id in (${a.event_ids.slice(0, 200).join(', ')})`;
          api.search({ q, tenant: a.tenant, limit: 200 }).then((r) => setEvents(r.kind === 'events' ? r.events : []), () => setEvents([]));
        };
        alertEvents(id).then(
          (x) => {
            if (!x) return byId();
            setExplained(x.events.filter((e) => e.event));
            setEvents(x.events.flatMap((e) => (e.event ? [e.event] : [])));
          },
          byId,
        );
      } else setEvents([]);
      const ent = a.entities[0];
      if (ent) {
        api
          .alerts({ entity: `${ent.kind}:${ent.value}`, limit: 20 })
          .then((p) => setRelated(p.items.filter((x) => x.id !== a.id)), () => setRelated([]));
      }
    } catch (e) {
      setError(e);
    }
  }, [id]);
  useEffect(() => {
    void load();
  }, [load]);

  const change = async (c: AlertChangeRequest) => {
    try {
      await api.updateAlert(id, c);
      await load();
    } catch (e) {
      setError(e);
    }
  };

  const createIncident = async () => {
    if (!alert) return;
    try {
      const inc = await api.createIncident({
        tenant: alert.tenant,
        title: `${alert.rule_name}: ${alert.entities.map((e) => e.value).slice(0, 3).join(', ')}`,
        priority: alert.severity,
        alerts: [alert.id],
      });
      navigate(`/incidents/${inc.id}`);
    } catch (e) {
      setError(e);
    }
  };

  if (error && !alert) return <div className="page"><ErrorNotice error={error} what="The alert page" /></div>;
  if (!alert) return <div className="page muted">Loading…</div>;
  return (
    <div className="page">
      <div className="page-head">
        <Link to="/alerts">Alerts</Link>
        <span className="muted">/</span>
        <h1>{alert.rule_name}</h1>
        <SeverityBadge s={alert.severity} />
        <StatusBadge s={alert.status} />
        <span className="spacer" />
        {me && alert.assignee !== me && <button onClick={() => change({ assignee: me, status: alert.status === 'new' ? 'assigned' : undefined })}>Assign to me</button>}
        {alert.status !== 'closed' && (
          <button className="primary" onClick={() => setClosing(true)}>
            Close…
          </button>
        )}
        {alert.status === 'closed' && <button onClick={() => change({ status: 'new' })}>Reopen</button>}
        {!alert.incident_id ? (
          <>
            <button onClick={createIncident}>Create incident</button>
            <button onClick={() => setLinkTo(true)}>Add to incident…</button>
          </>
        ) : (
          <Link className="btn" to={`/incidents/${alert.incident_id}`}>
            Open incident
          </Link>
        )}
      </div>
      <ErrorNotice error={error} />
      <div className="grid dash">
        <section className="card span-4" aria-label="Alert">
          <h2>Alert</h2>
          <table className="kv">
            <tbody>
              <tr><th scope="row">Tenant</th><td>{alert.tenant}</td></tr>
              <tr><th scope="row">Rule</th><td>{alert.rule_name} <span className="muted mono">{alert.rule_id} v{alert.rule_version}</span></td></tr>
              <tr><th scope="row">Risk score</th><td>{alert.risk_score}</td></tr>
              <tr><th scope="row">Events</th><td>{fmtNum(alert.count)}{alert.event_ids_dropped > 0 && <span className="muted"> ({fmtNum(alert.event_ids_dropped)} ids not kept)</span>}</td></tr>
              <tr><th scope="row">First seen</th><td>{fmtTime(alert.first_seen)}</td></tr>
              <tr><th scope="row">Last seen</th><td>{fmtTime(alert.last_seen)} {alert.filling && <span className="badge">still filling</span>}</td></tr>
              <tr><th scope="row">Assignee</th><td>{alert.assignee ?? '—'}</td></tr>
              {alert.resolution && <tr><th scope="row">Resolution</th><td>{alert.resolution.replace('_', ' ')} {alert.resolution_reason && <span className="muted">— {alert.resolution_reason}</span>}</td></tr>}
              <tr><th scope="row">ATT&amp;CK</th><td>{[...alert.tactics, ...alert.techniques].join(', ') || '—'}</td></tr>
            </tbody>
          </table>
        </section>
        <section className="card span-4" aria-label="Entities">
          <h2>Entities</h2>
          <table className="kv">
            <tbody>
              {alert.entities.map((e: Entity, i) => (
                <tr key={i}>
                  <th scope="row">{e.kind}</th>
                  <td>
                    <PV field={ENTITY_FIELD[e.kind] ?? e.kind} value={e.value} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {alert.entities.length === 0 && <p className="muted">No entities were extracted.</p>}
          <h2 style={{ marginTop: 14 }}>Related alerts</h2>
          {related.length === 0 ? (
            <p className="muted">None for {alert.entities[0] ? `${alert.entities[0].kind} ${alert.entities[0].value}` : 'these entities'}.</p>
          ) : (
            <ul style={{ paddingLeft: 18, margin: 0 }}>
              {related.map((r) => (
                <li key={r.id}>
                  <Link to={`/alerts/${r.id}`}>{r.rule_name}</Link> <SeverityBadge s={r.severity} /> <span className="muted">{ago(r.last_seen)}</span>
                </li>
              ))}
            </ul>
          )}
        </section>
        <section className="card span-4" aria-label="Comments and history">
          <h2>Comments and history</h2>
          <form
            className="row"
            style={{ marginBottom: 10 }}
            onSubmit={async (e) => {
              e.preventDefault();
              if (!comment.trim()) return;
              try {
                await api.commentAlert(id, comment);
                setComment('');
                await load();
              } catch (err) {
                setError(err);
              }
            }}
          >
            <input aria-label="Comment" placeholder="Add a comment" value={comment} onChange={(e) => setComment(e.target.value)} style={{ flex: 1 }} />
            <button type="submit">Comment</button>
          </form>
          <ul className="timeline">
            {[
              ...(history?.comments ?? []).map((c) => ({ at: c.created_at, who: c.author, text: c.body })),
              ...(history?.changes ?? []).map((c) => ({ at: c.at, who: c.actor, text: `${c.field}: ${c.old ?? '—'} → ${c.new ?? '—'}` })),
            ]
              .sort((a, b) => b.at.localeCompare(a.at))
              .map((h, i) => (
                <li key={i}>
                  <div className="muted" style={{ fontSize: 12 }}>
                    {fmtTime(h.at)} · {h.who}
                  </div>
                  {h.text}
                </li>
              ))}
          </ul>
        </section>
        <section className="card span-12 flush" aria-label="Base events">
          <div className="card-head" style={{ padding: '12px 14px 0' }}>
            <h2>Base events</h2>
            <span className="spacer" />
            <Link to={`/events?${new URLSearchParams({ q: `vigil.event_id in (${alert.event_ids.slice(0, 200).join(', ')})`, from: '30d' }).toString()}`}>Open in Events</Link>
          </div>
          {events === null ? (
            <div className="empty">Loading…</div>
          ) : events.length === 0 ? (
            <div className="empty">The events of this alert are not in the store any more (retention) or were not kept.</div>
          ) : explained ? (
            <MatchedEvents list={explained} onOpen={setOpenMatched} />
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Host</th>
                  <th>Source IP</th>
                  <th>User</th>
                  <th>Message</th>
                </tr>
              </thead>
              <tbody>
                {events.map((ev, i) => {
                  const f = flatten(ev);
                  return (
                    <tr key={i} onClick={() => setOpenEvent(ev)} style={{ cursor: 'pointer' }}>
                      <td className="mono">{fmtTime(display(f['@timestamp']))}</td>
                      <td><PV field="host.name" value={f['host.name'] ?? null} /></td>
                      <td><PV field="source.ip" value={f['source.ip'] ?? null} /></td>
                      <td><PV field="user.name" value={f['user.name'] ?? null} /></td>
                      <td>{display(f['message'] ?? f['event.original'])}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          )}
        </section>
      </div>
      {openEvent && <EventDrawer event={openEvent} onClose={() => setOpenEvent(null)} onAddColumn={() => {}} />}
      {openMatched?.event && (
        <EventDrawer
          event={openMatched.event}
          matched={new Set(openMatched.matched.flatMap((m) => (m.field ? [m.field] : [])))}
          onClose={() => setOpenMatched(null)}
          onAddColumn={() => {}}
        />
      )}
      {closing && (
        <CloseDialog
          count={1}
          onClose={() => setClosing(false)}
          onConfirm={(resolution, reason) => {
            setClosing(false);
            void change({ status: 'closed', resolution, resolution_reason: reason || undefined });
          }}
        />
      )}
      {linkTo && <LinkDialog tenant={tenant} alertId={alert.id} onClose={() => setLinkTo(false)} onDone={(incId) => navigate(`/incidents/${incId}`)} />}
    </div>
  );
}

function LinkDialog({ tenant, alertId, onClose, onDone }: { tenant: string; alertId: string; onClose: () => void; onDone: (id: string) => void }) {
  const [list, setList] = useState<{ id: string; title: string }[] | null>(null);
  const [pick, setPick] = useState('');
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.incidents({ tenant, status: 'open,in_progress', limit: 100 }).then((p) => setList(p.items), setError);
  }, [tenant]);
  return (
    <Dialog
      title="Add to incident"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button
            className="primary"
            disabled={!pick}
            onClick={async () => {
              try {
                await api.linkAlerts(pick, [alertId]);
                onDone(pick);
              } catch (e) {
                setError(e);
              }
            }}
          >
            Add
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      <label className="field">
        Open incident
        <select value={pick} onChange={(e) => setPick(e.target.value)}>
          <option value="">{list === null ? 'Loading…' : list.length ? 'Choose…' : 'No open incident'}</option>
          {(list ?? []).map((i) => (
            <option key={i.id} value={i.id}>
              {i.title}
            </option>
          ))}
        </select>
      </label>
    </Dialog>
  );
}

/** Marks the case-insensitive occurrences of `words` in `text`. */
function marked(text: string, words: string[]) {
  const ws = words.filter((w) => w.length > 0).sort((a, b) => b.length - a.length);
  if (!ws.length || !text) return text;
  const esc = ws.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const parts = text.split(new RegExp(`(${esc.join('|')})`, 'gi'));
  return parts.map((p, i) => (i % 2 === 1 ? <mark key={i} className="match">{p}</mark> : p));
}

const SHOWN: [string, string][] = [
  ['host.name', 'Host'],
  ['source.ip', 'Source IP'],
  ['user.name', 'User'],
];

/** The base events with the conditions each satisfied: the selector, the matched field values
 * as chips, and those fields and words marked in the row. */
function MatchedEvents({ list, onOpen }: { list: AlertBaseEvent[]; onOpen: (e: AlertBaseEvent) => void }) {
  return (
    <table className="data" data-testid="matched-events">
      <thead>
        <tr>
          <th>Time</th>
          <th>Matched</th>
          {SHOWN.map(([, label]) => (
            <th key={label}>{label}</th>
          ))}
          <th>Message</th>
        </tr>
      </thead>
      <tbody>
        {list.map((b) => {
          const f = flatten(b.event ?? {});
          const idx = matchIndex(b.matched);
          const msgField = f['message'] !== undefined ? 'message' : 'event.original';
          const msg = display(f[msgField]);
          // full-text words, and matched values of the message itself, are marked in it
          const words = [...(idx.get(null) ?? []), ...(idx.get(msgField) ?? [])].filter((w) => w !== msg);
          return (
            <tr key={b.id} data-testid="base-event" onClick={() => onOpen(b)} style={{ cursor: 'pointer' }}>
              <td className="mono">{fmtTime(display(f['@timestamp']))}</td>
              <td>
                {b.selector && <span className="badge" title="The rule's selector this event satisfied">{b.selector}</span>}{' '}
                {b.matched.length === 0 ? (
                  <span className="muted">not recoverable</span>
                ) : (
                  b.matched.map((m, i) => (
                    <mark key={i} className="match chip mono" title={m.field ? `${m.field} matched ${m.value}` : `the text contains ${m.value}`}>
                      {m.field ?? 'text'}
                      {m.value ? ` = ${m.value.length > 60 ? `${m.value.slice(0, 60)}…` : m.value}` : ''}
                    </mark>
                  ))
                )}
              </td>
              {SHOWN.map(([field]) => (
                <td key={field} className={idx.has(field) ? 'match-cell' : undefined}>
                  <PV field={field} value={f[field] ?? null} />
                </td>
              ))}
              <td className={idx.has(msgField) && !words.length ? 'match-cell' : undefined}>{marked(msg, words)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
