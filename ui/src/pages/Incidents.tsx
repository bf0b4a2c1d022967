// Incidents: the list, and one incident with its timeline, linked alerts, events, assets and
// accounts, comments, status workflow and exports.
import { useCallback, useEffect, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router-dom';
import { api } from '../api/client';
import type { Attachment, Comment, Incident, IncidentStatus, Priority, Resolution, TimelineEntry } from '../api/types';
import { INCIDENT_STATUSES, RESOLUTIONS, SEVERITIES } from '../api/types';
import { Dialog, ErrorNotice, fmtNum, SeverityBadge, StatusBadge } from '../components/Common';
import { PV } from '../components/Pivot';
import { download } from '../lib/download';
import { atLeast, useSession } from '../lib/session';
import { ago, fmtTime } from '../lib/time';

export function IncidentsPage() {
  const { tenant, principal } = useSession();
  const canWrite = atLeast(principal, tenant, 'tier2_analyst');
  const [params, setParams] = useSearchParams();
  const status = params.get('status') ?? 'open,in_progress';
  const text = params.get('q') ?? '';
  const [list, setList] = useState<Incident[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [creating, setCreating] = useState(false);
  const navigate = useNavigate();

  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    api
      .incidents({ tenant, status: status || undefined, q: text || undefined, limit: 100 }, ctl.signal)
      .then((p) => {
        setList(p.items);
        setCursor(p.next_cursor);
        setError(null);
      })
      .catch((e) => !ctl.signal.aborted && setError(e))
      .finally(() => !ctl.signal.aborted && setLoading(false));
    return () => ctl.abort();
  }, [tenant, status, text]);

  const set = (k: string, v: string) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v);
    else p.delete(k);
    setParams(p, { replace: true });
  };

  return (
    <div className="page">
      <div className="page-head">
        <h1>Incidents</h1>
        <span className="muted">{error ? '' : loading ? 'Loading…' : `${fmtNum(list.length)}${cursor ? '+' : ''} incidents`}</span>
        <span className="spacer" />
        {canWrite && (
          <button className="primary" onClick={() => setCreating(true)} disabled={!!error}>
            New incident
          </button>
        )}
      </div>
      <div className="card row" style={{ marginBottom: 12 }} role="search" aria-label="Incident filters">
        <select aria-label="Status" value={status} onChange={(e) => set('status', e.target.value)}>
          <option value="open,in_progress">Open and in progress</option>
          {INCIDENT_STATUSES.map((s) => (
            <option key={s} value={s}>
              {s.replace('_', ' ')}
            </option>
          ))}
          <option value="">any status</option>
        </select>
        <input data-search aria-label="Title contains" placeholder="Title contains" value={text} onChange={(e) => set('q', e.target.value)} />
      </div>
      <ErrorNotice error={error} what="Incidents" />
      {!error && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>Priority</th>
                <th>Title</th>
                <th>Category</th>
                <th>Status</th>
                <th className="num">Alerts</th>
                <th>Assignee</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {list.map((i) => (
                <tr key={i.id}>
                  <td>
                    <SeverityBadge s={i.priority} />
                  </td>
                  <td>
                    <Link to={`/incidents/${i.id}`}>{i.title}</Link>
                  </td>
                  <td>{i.category || <span className="muted">—</span>}</td>
                  <td>
                    <StatusBadge s={i.status} />
                  </td>
                  <td className="num">{i.alerts.length}</td>
                  <td>{i.assignee ?? <span className="muted">—</span>}</td>
                  <td title={fmtTime(i.updated_at)}>{ago(i.updated_at)}</td>
                </tr>
              ))}
              {!loading && list.length === 0 && (
                <tr>
                  <td colSpan={7} className="empty">
                    No incidents match these filters.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <NewIncident
          tenant={tenant}
          onClose={() => setCreating(false)}
          onCreated={(i) => navigate(`/incidents/${i.id}`)}
        />
      )}
    </div>
  );
}

function NewIncident({ tenant, onClose, onCreated }: { tenant: string; onClose: () => void; onCreated: (i: Incident) => void }) {
  const [title, setTitle] = useState('');
  const [category, setCategory] = useState('');
  const [priority, setPriority] = useState<Priority>('medium');
  const [description, setDescription] = useState('');
  const [error, setError] = useState<unknown>(null);
  return (
    <Dialog
      title="New incident"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button
            className="primary"
            disabled={!title.trim()}
            onClick={async () => {
              try {
                onCreated(await api.createIncident({ tenant, title, category, priority, description }));
              } catch (e) {
                setError(e);
              }
            }}
          >
            Create
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      <label className="field">
        Title
        <input value={title} onChange={(e) => setTitle(e.target.value)} required />
      </label>
      <div className="row">
        <label className="field" style={{ flex: 1 }}>
          Category
          <input value={category} onChange={(e) => setCategory(e.target.value)} placeholder="account-compromise" />
        </label>
        <label className="field">
          Priority
          <select value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
            {SEVERITIES.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      <label className="field">
        Description
        <textarea rows={4} value={description} onChange={(e) => setDescription(e.target.value)} />
      </label>
    </Dialog>
  );
}

export function IncidentDetailPage() {
  const { id = '' } = useParams();
  const { principal } = useSession();
  const [inc, setInc] = useState<Incident | null>(null);
  const [timeline, setTimeline] = useState<TimelineEntry[]>([]);
  const [comments, setComments] = useState<Comment[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [note, setNote] = useState('');
  const [closing, setClosing] = useState(false);

  const load = useCallback(async () => {
    try {
      setInc(await api.incident(id));
      setError(null);
      api.timeline(id).then(setTimeline, () => setTimeline([]));
      api.incidentComments(id).then(setComments, () => setComments([]));
    } catch (e) {
      setError(e);
    }
  }, [id]);
  useEffect(() => {
    void load();
  }, [load]);

  const change = async (c: Parameters<typeof api.updateIncident>[1]) => {
    try {
      await api.updateIncident(id, c);
      await load();
    } catch (e) {
      setError(e);
    }
  };

  if (error && !inc) return <div className="page"><ErrorNotice error={error} what="The incident page" /></div>;
  if (!inc) return <div className="page muted">Loading…</div>;
  // incidents are worked by tier-2 analysts and above (incidents.write); others read them
  const canWrite = atLeast(principal, inc.tenant, 'tier2_analyst');
  return (
    <div className="page">
      <div className="page-head">
        <Link to="/incidents">Incidents</Link>
        <span className="muted">/</span>
        <h1>{inc.title}</h1>
        <SeverityBadge s={inc.priority} />
        <StatusBadge s={inc.status} />
        <span className="spacer" />
        {canWrite && inc.status === 'open' && <button onClick={() => change({ status: 'in_progress' })}>Start work</button>}
        {canWrite &&
          (inc.status !== 'closed' ? (
            <button className="primary" onClick={() => setClosing(true)}>
              Close…
            </button>
          ) : (
            <button onClick={() => change({ status: 'open' })}>Reopen</button>
          ))}
        <button onClick={() => api.exportIncident(inc.id).then((b) => download(`incident-${inc.id}.json`, 'application/json', b), setError)}>
          Export JSON
        </button>
        <button
          onClick={() =>
            api.reportIncident(inc.id).then((b) => {
              // the report is the server's HTML, opened from a blob so the credentials stay in this tab
              const url = URL.createObjectURL(new Blob([b], { type: 'text/html' }));
              window.open(url, '_blank', 'noopener');
              setTimeout(() => URL.revokeObjectURL(url), 60_000);
            }, setError)
          }
        >
          Printable report
        </button>
      </div>
      <ErrorNotice error={error} />
      <div className="grid dash">
        <section className="card span-4" aria-label="Incident">
          <h2>Incident</h2>
          <table className="kv">
            <tbody>
              <tr><th scope="row">Tenant</th><td>{inc.tenant}</td></tr>
              <tr><th scope="row">Category</th><td>{inc.category || '—'}</td></tr>
              <tr>
                <th scope="row">Priority</th>
                <td>
                  <select aria-label="Priority" value={inc.priority} disabled={!canWrite} onChange={(e) => change({ priority: e.target.value as Priority })}>
                    {SEVERITIES.map((s) => <option key={s}>{s}</option>)}
                  </select>
                </td>
              </tr>
              <tr><th scope="row">Assignee</th><td>{inc.assignee ?? '—'}</td></tr>
              <tr><th scope="row">Created</th><td>{fmtTime(inc.created_at)} by {inc.created_by}</td></tr>
              {inc.closed_at && <tr><th scope="row">Closed</th><td>{fmtTime(inc.closed_at)} ({inc.resolution?.replace('_', ' ')})</td></tr>}
            </tbody>
          </table>
          {inc.description && <p style={{ whiteSpace: 'pre-wrap' }}>{inc.description}</p>}
        </section>
        <section className="card span-4" aria-label="Linked objects">
          <h2>Alerts ({inc.alerts.length})</h2>
          <ul style={{ paddingLeft: 18, marginTop: 0 }}>
            {inc.alerts.map((a) => (
              <li key={a}>
                <Link to={`/alerts/${a}`} className="mono">{a}</Link>
              </li>
            ))}
          </ul>
          <h2>Accounts</h2>
          <p>{inc.accounts.length ? inc.accounts.map((a) => <span key={a} style={{ marginRight: 8 }}><PV field="user.name" value={a} /></span>) : <span className="muted">none linked</span>}</p>
          <h2>Assets</h2>
          <p>{inc.assets.length ? inc.assets.join(', ') : <span className="muted">none linked</span>}</p>
          <h2>Attachments</h2>
          <Attachments id={inc.id} onError={setError} canWrite={canWrite} />
          <h2>Events</h2>
          <p>
            {inc.events.length ? (
              <Link to={`/events?${new URLSearchParams({ q: `vigil.event_id in (${inc.events.slice(0, 200).join(', ')})`, from: '30d' }).toString()}`}>
                {inc.events.length} linked events
              </Link>
            ) : (
              <span className="muted">none linked</span>
            )}
          </p>
        </section>
        <section className="card span-4" aria-label="Timeline">
          <h2>Timeline</h2>
          {canWrite && <form
            className="row"
            style={{ marginBottom: 10 }}
            onSubmit={async (e) => {
              e.preventDefault();
              if (!note.trim()) return;
              try {
                await api.addTimeline(id, note);
                setNote('');
                await load();
              } catch (err) {
                setError(err);
              }
            }}
          >
            <input aria-label="Timeline note" placeholder="Add a note to the timeline" value={note} onChange={(e) => setNote(e.target.value)} style={{ flex: 1 }} />
            <button type="submit">Add</button>
          </form>}
          <ul className="timeline">
            {[...timeline, ...comments.map((c) => ({ id: c.id, at: c.created_at, author: c.author, kind: 'comment', text: c.body }))]
              .sort((a, b) => b.at.localeCompare(a.at))
              .map((t) => (
                <li key={t.id}>
                  <div className="muted" style={{ fontSize: 12 }}>
                    {fmtTime(t.at)} · {t.author} · {t.kind}
                  </div>
                  {t.text}
                </li>
              ))}
          </ul>
        </section>
      </div>
      {closing && <CloseIncident onClose={() => setClosing(false)} onConfirm={(r) => { setClosing(false); void change({ status: 'closed' as IncidentStatus, resolution: r }); }} />}
    </div>
  );
}

function CloseIncident({ onClose, onConfirm }: { onClose: () => void; onConfirm: (r: Resolution) => void }) {
  const [r, setR] = useState<Resolution>('true_positive');
  return (
    <Dialog
      title="Close incident"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" onClick={() => onConfirm(r)}>
            Close incident
          </button>
        </>
      }
    >
      <label className="field">
        Resolution
        <select value={r} onChange={(e) => setR(e.target.value as Resolution)}>
          {RESOLUTIONS.map((x) => (
            <option key={x} value={x}>
              {x.replace('_', ' ')}
            </option>
          ))}
        </select>
      </label>
    </Dialog>
  );
}

function Attachments({ id, onError, canWrite }: { id: string; onError: (e: unknown) => void; canWrite: boolean }) {
  const [list, setList] = useState<Attachment[]>([]);
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => {
    api.attachments(id).then(setList, () => setList([]));
  }, [id]);
  useEffect(load, [load]);
  return (
    <div style={{ marginBottom: 12 }}>
      <ul style={{ paddingLeft: 18, marginTop: 0 }}>
        {list.map((a) => (
          <li key={a.id}>
            <button className="pv" onClick={() => api.attachment(a.id).then((b) => download(a.name, a.media_type, b), onError)}>
              {a.name}
            </button>{' '}
            <span className="muted">
              {fmtNum(a.size)} bytes · {a.uploaded_by} · {ago(a.created_at)}
            </span>
          </li>
        ))}
      </ul>
      {canWrite && <label className="btn" style={{ cursor: 'pointer' }}>
        {busy ? 'Uploading…' : 'Attach a file'}
        <input
          type="file"
          className="sr-only"
          disabled={busy}
          onChange={async (e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (!f) return;
            setBusy(true);
            try {
              await api.attach(id, f);
              load();
            } catch (err) {
              onError(err);
            } finally {
              setBusy(false);
            }
          }}
        />
      </label>}
    </div>
  );
}
