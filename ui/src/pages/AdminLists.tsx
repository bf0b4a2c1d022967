// Administration → active lists and context tables of the running correlator: browse the
// entries of the current tenant's instance (a shared list has one instance for all), add,
// edit and delete entries, export and import CSV.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { listsApi, type EntryBody, type ListBody } from '../api/sources';
import { Dialog, ErrorNotice, fmtNum } from '../components/Common';
import { download } from '../lib/download';
import { useSession } from '../lib/session';
import { fmtTime } from '../lib/time';

export function ListsAdmin() {
  const { tenant } = useSession();
  const [lists, setLists] = useState<ListBody[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [picked, setPicked] = useState('');
  const load = useCallback(
    () =>
      listsApi.lists(tenant).then((l) => {
        setLists(l);
        setPicked((cur) => (l.some((x) => x.name === cur) ? cur : (l[0]?.name ?? '')));
      }, setError),
    [tenant],
  );
  useEffect(() => {
    void load();
  }, [load]);
  const list = lists?.find((l) => l.name === picked);

  return (
    <>
      <p className="muted" style={{ marginTop: 0 }}>
        Active lists and context tables are declared with the correlation rules; correlation rules and the <code>lookup</code>{' '}
        search stage read them. Entries shown are the {tenant} tenant's (a shared list has one instance for every tenant).
      </p>
      <ErrorNotice error={error} what="Active lists" />
      {lists && lists.length === 0 && <div className="empty">No active list or context table is declared.</div>}
      {lists && lists.length > 0 && (
        <div className="card flush" style={{ marginBottom: 14 }}>
          <table className="data" data-testid="lists-table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Kind</th>
                <th>Scope</th>
                <th>Key</th>
                <th>Columns</th>
                <th className="num">Entries</th>
                <th className="num">Max</th>
                <th>Time to live</th>
              </tr>
            </thead>
            <tbody>
              {lists.map((l) => (
                <tr
                  key={l.name}
                  className={l.name === picked ? 'selected' : undefined}
                  onClick={() => setPicked(l.name)}
                  style={{ cursor: 'pointer' }}
                >
                  <td>
                    <button className="ghost small mono" onClick={() => setPicked(l.name)} aria-pressed={l.name === picked}>
                      {l.name}
                    </button>
                    {l.description && <div className="muted small-text">{l.description}</div>}
                  </td>
                  <td>{l.kind.replace('_', ' ')}</td>
                  <td>{l.scope}</td>
                  <td className="mono">{l.key.join(', ')}</td>
                  <td className="mono">
                    {Object.entries(l.columns)
                      .map(([k, v]) => `${k}: ${v}`)
                      .join(', ') || '–'}
                  </td>
                  <td className="num">{fmtNum(l.entries)}</td>
                  <td className="num">{fmtNum(l.max_entries)}</td>
                  <td>{l.ttl_seconds ? `${l.ttl_seconds} s` : 'none'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list && <Entries key={`${list.name}/${tenant}`} list={list} tenant={tenant} onChanged={load} />}
    </>
  );
}

function columnsOf(list: ListBody, entries: EntryBody[]): string[] {
  const cols = new Set<string>(list.key);
  for (const c of Object.keys(list.columns)) cols.add(c);
  for (const e of entries) for (const c of Object.keys(e.values as Record<string, unknown>)) cols.add(c);
  return [...cols];
}

function show(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function Entries({ list, tenant, onChanged }: { list: ListBody; tenant: string; onChanged: () => void }) {
  const [entries, setEntries] = useState<EntryBody[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [filter, setFilter] = useState('');
  const [editing, setEditing] = useState<EntryBody | 'new' | null>(null);
  const file = useRef<HTMLInputElement>(null);
  const load = useCallback(() => listsApi.entries(list.name, tenant).then(setEntries, setError), [list.name, tenant]);
  useEffect(() => {
    void load();
  }, [load]);
  const cols = useMemo(() => columnsOf(list, entries ?? []), [list, entries]);
  const shown = (entries ?? []).filter((e) => !filter || JSON.stringify(e.values).toLowerCase().includes(filter.toLowerCase()));
  const changed = () => {
    void load();
    onChanged();
  };

  return (
    <section className="card" aria-label={`Entries of ${list.name}`}>
      <div className="card-head">
        <h2>
          <span className="mono">{list.name}</span> entries
        </h2>
        <span className="spacer" />
        <input type="search" placeholder="Filter entries" aria-label="Filter entries" value={filter} onChange={(e) => setFilter(e.target.value)} />
        <button onClick={() => setEditing('new')}>Add entry</button>
        <button
          onClick={() =>
            listsApi.exportCsv(list.name, tenant).then((b) => download(`${list.name}.csv`, 'text/csv', b), setError)
          }
        >
          Export CSV
        </button>
        <button onClick={() => file.current?.click()}>Import CSV</button>
        <input
          ref={file}
          type="file"
          accept=".csv,text/csv"
          aria-label="CSV file to import"
          style={{ display: 'none' }}
          onChange={(e) => {
            const f = e.target.files?.[0];
            e.target.value = '';
            if (!f) return;
            listsApi.importCsv(list.name, f, tenant).then((r) => {
              setNotice(`Imported ${r.written} entries from ${f.name}.`);
              setError(null);
              changed();
            }, setError);
          }}
        />
      </div>
      {notice && (
        <div className="notice" role="status">
          {notice}
        </div>
      )}
      <ErrorNotice error={error} />
      {entries && entries.length === 0 && <div className="empty">This instance has no entry.</div>}
      {shown.length > 0 && (
        <div className="table-scroll">
          <table className="data" data-testid="entries-table">
            <thead>
              <tr>
                {cols.map((c) => (
                  <th key={c} className="mono">
                    {c}
                    {list.key.includes(c) ? ' (key)' : ''}
                  </th>
                ))}
                <th>Updated</th>
                <th>Expires</th>
                <th className="num">Updates</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => {
                const vals = e.values as Record<string, unknown>;
                const key = e.key.join('|');
                return (
                  <tr key={key}>
                    {cols.map((c) => (
                      <td key={c} className="mono">
                        {show(vals[c])}
                      </td>
                    ))}
                    <td className="mono">{e.updated ? fmtTime(e.updated) : ''}</td>
                    <td className="mono">{e.expires ? fmtTime(e.expires) : 'never'}</td>
                    <td className="num">{fmtNum(e.updates)}</td>
                    <td style={{ whiteSpace: 'nowrap' }}>
                      <button className="small" onClick={() => setEditing(e)} aria-label={`Edit ${key}`}>
                        Edit
                      </button>{' '}
                      <button
                        className="small danger"
                        aria-label={`Delete ${key}`}
                        onClick={() => {
                          if (window.confirm(`Delete the entry ${key} from ${list.name}?`))
                            listsApi.remove(list.name, key, tenant).then(changed, setError);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {editing && (
        <EntryDialog
          list={list}
          cols={cols}
          tenant={tenant}
          entry={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={() => {
            setEditing(null);
            changed();
          }}
        />
      )}
    </section>
  );
}

function EntryDialog({
  list,
  cols,
  tenant,
  entry,
  onClose,
  onSaved,
}: {
  list: ListBody;
  cols: string[];
  tenant: string;
  entry: EntryBody | null;
  onClose: () => void;
  onSaved: () => void;
}) {
  const start = (entry?.values ?? {}) as Record<string, unknown>;
  const [vals, setVals] = useState<Record<string, string>>(() => Object.fromEntries(cols.map((c) => [c, show(start[c])])));
  const [ttl, setTtl] = useState('');
  const [error, setError] = useState<unknown>(null);
  const save = () => {
    const key = list.key.map((k) => vals[k] ?? '').join('|');
    const values: Record<string, unknown> = {};
    for (const [c, v] of Object.entries(vals)) {
      if (v === '') continue;
      const type = list.columns[c];
      values[c] =
        type === 'integer' || type === 'float'
          ? Number(v)
          : type === 'boolean'
            ? v === 'true'
            : type === 'strings'
              ? v.split(',').map((x) => x.trim())
              : v;
    }
    listsApi.put(list.name, key, values, tenant, ttl ? Number(ttl) : undefined).then(onSaved, setError);
  };
  const missingKey = list.key.some((k) => !(vals[k] ?? '').trim());
  return (
    <Dialog
      title={entry ? `Edit ${entry.key.join('|')}` : `New entry in ${list.name}`}
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>Cancel</button>
          <button className="primary" onClick={save} disabled={missingKey}>
            Save
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      {cols.map((c) => (
        <label className="field" key={c}>
          <span>
            <span className="mono">{c}</span>
            {list.key.includes(c) ? ' (key)' : ''}
            {list.columns[c] ? <span className="muted"> · {list.columns[c]}</span> : null}
          </span>
          <input value={vals[c] ?? ''} disabled={!!entry && list.key.includes(c)} onChange={(e) => setVals({ ...vals, [c]: e.target.value })} />
        </label>
      ))}
      <label className="field">
        Time to live, seconds (empty: the list's{list.ttl_seconds ? `, ${list.ttl_seconds} s` : ''})
        <input type="number" min={1} value={ttl} onChange={(e) => setTtl(e.target.value)} />
      </label>
    </Dialog>
  );
}
