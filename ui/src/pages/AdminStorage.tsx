// Administration → Storage: the event store's storage spaces per tenant with their retention,
// hot age and usage (GET /api/v1/storage/spaces), and retention changed at run time by
// administrators (PUT /api/v1/storage/spaces/{tenant}/{space}/retention, audited).
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api/client';
import type { StorageSpace } from '../api/types';
import { Dialog, ErrorNotice, fmtNum } from '../components/Common';
import { atLeast, useSession } from '../lib/session';
import { fmtTime } from '../lib/time';

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

function fmtSecs(s: number | null | undefined): string {
  if (s === null || s === undefined) return 'forever';
  if (s % 86400 === 0) return `${s / 86400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

export function StorageAdmin() {
  const { principal } = useSession();
  const [spaces, setSpaces] = useState<StorageSpace[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<StorageSpace | null>(null);
  const load = useCallback(() => {
    api.storageSpaces().then((s) => {
      setSpaces(s);
      setError(null);
    }, setError);
  }, []);
  useEffect(load, [load]);
  return (
    <>
      <p className="muted" style={{ marginTop: 0 }}>
        Each tenant's events go to the first storage space whose condition matches, else to <code>default</code>. A space deletes events older than its retention;
        a retention set here wins over the configuration file, also after a restart, until it is set back.
      </p>
      <ErrorNotice error={error} what="Storage administration" />
      {spaces && (
        <div className="card flush">
          <table className="data" aria-label="Storage spaces">
            <thead>
              <tr>
                <th>Tenant</th>
                <th>Space</th>
                <th>Condition</th>
                <th>Retention</th>
                <th>Hot age</th>
                <th className="num">Events</th>
                <th className="num">Size</th>
                <th>Oldest → newest</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {spaces.map((s) => (
                <tr key={`${s.tenant}/${s.name}`} data-space={`${s.tenant}/${s.name}`}>
                  <td className="mono">{s.tenant}</td>
                  <td className="mono">{s.name}</td>
                  <td className="mono">{s.condition ?? <span className="muted">{s.name === 'default' ? 'everything else' : 'not configured'}</span>}</td>
                  <td>
                    <strong>{s.retention}</strong>{' '}
                    {s.retention_overridden ? (
                      <span className="badge sev-medium" title={`The configuration says ${fmtSecs(s.configured_retention_secs)}`}>
                        set here
                      </span>
                    ) : (
                      <span className="muted">configured</span>
                    )}
                  </td>
                  <td>{s.hot_age_secs ? fmtSecs(s.hot_age_secs) : <span className="muted">stays hot</span>}</td>
                  <td className="num">{fmtNum(s.events)}</td>
                  <td className="num">
                    {fmtBytes(s.bytes)}
                    {s.cold_bytes > 0 && <div className="muted">{fmtBytes(s.cold_bytes)} cold</div>}
                  </td>
                  <td>{s.oldest ? `${fmtTime(s.oldest)} → ${s.newest ? fmtTime(s.newest) : ''}` : <span className="muted">no sealed segment</span>}</td>
                  <td>
                    {atLeast(principal, s.tenant, 'administrator') && (
                      <button className="small" onClick={() => setEditing(s)} aria-label={`Change retention of ${s.tenant}/${s.name}`}>
                        Change retention
                      </button>
                    )}
                  </td>
                </tr>
              ))}
              {spaces.length === 0 && (
                <tr>
                  <td colSpan={9} className="muted">
                    No storage space in your tenants.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      {editing && (
        <RetentionDialog
          space={editing}
          onClose={() => setEditing(null)}
          onDone={(s) => {
            setSpaces((l) => l && l.map((x) => (x.tenant === s.tenant && x.name === s.name ? s : x)));
            setEditing(null);
          }}
        />
      )}
    </>
  );
}

function RetentionDialog({ space, onClose, onDone }: { space: StorageSpace; onClose: () => void; onDone: (s: StorageSpace) => void }) {
  const [value, setValue] = useState(space.retention);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (retention: string | null) => {
    setBusy(true);
    try {
      onDone(await api.setRetention(space.tenant, space.name, retention));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={`Retention of ${space.tenant}/${space.name}`}
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          {space.retention_overridden && (
            <button disabled={busy} onClick={() => void submit(null)}>
              Back to the configuration ({fmtSecs(space.configured_retention_secs)})
            </button>
          )}
          <button className="primary" disabled={busy || !value.trim()} onClick={() => void submit(value.trim())}>
            Save
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      <label className="field">
        Delete events older than
        <input className="mono" value={value} onChange={(e) => setValue(e.target.value)} placeholder="90d" aria-describedby="retention-help" />
      </label>
      <p id="retention-help" className="muted" style={{ margin: 0 }}>
        A duration such as <code>90d</code>, <code>12h</code> or <code>30m</code> (at least a minute), or <code>forever</code>. Searches stop returning older events at
        once; the next retention pass deletes them and records each deletion in the audit trail.
      </p>
    </Dialog>
  );
}
