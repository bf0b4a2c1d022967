// One event: its normalized fields, the source's own fields and the raw line; values pivot.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { useSession } from '../lib/session';
import { Dialog, ErrorNotice } from './Common';
import type { EventDoc, Json } from '../api/types';
import { display, flatten } from '../lib/query';
import { Icon } from './Icon';
import { PV } from './Pivot';

export function EventDrawer({
  event,
  onClose,
  onAddColumn,
  matched,
}: {
  event: EventDoc;
  onClose: () => void;
  onAddColumn: (f: string) => void;
  /** Fields a rule matched (the alert page): their rows are marked. */
  matched?: Set<string>;
}) {
  const [tab, setTab] = useState<'fields' | 'source' | 'raw' | 'json'>('fields');
  const [adding, setAdding] = useState(false);
  const addingRef = useRef(false);
  addingRef.current = adding;
  const ref = useRef<HTMLDivElement>(null);
  const flat = flatten(event);
  const normalized = Object.entries(flat).filter(([k]) => !k.startsWith('original.') && k !== 'event.original');
  const source = Object.entries(flat).filter(([k]) => k.startsWith('original.'));
  const raw = display(flat['event.original']);
  const title = display(flat['message']) || raw || display(flat['event.action']) || 'Event';

  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('button')?.focus();
    // Esc closes the drawer, unless a dialog on top of it takes the key
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && !addingRef.current && onClose();
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      prev?.focus?.();
    };
  }, [onClose]);

  const kv = (rows: [string, Json][], strip = '') => (
    <table className="kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr key={k} className={matched?.has(k) || matched?.has(k.slice(strip.length)) ? 'match-row' : undefined}>
            <th scope="row">
              {k.slice(strip.length)}
              {!strip && (
                <button className="ghost small" style={{ height: 18, marginLeft: 4 }} onClick={() => onAddColumn(k)} title="Add as a column" aria-label={`Add ${k} as a column`}>
                  +
                </button>
              )}
            </th>
            <td>
              <PV field={k} value={v} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );

  return (
    <>
      <div className="drawer-backdrop" onClick={onClose} />
      <aside className="drawer" role="dialog" aria-modal="true" aria-label="Event details" ref={ref} data-testid="event-drawer">
        <header>
          <h2 title={title}>{title}</h2>
          {typeof flat['vigil.event_id'] === 'string' && (
            <button onClick={() => setAdding(true)}>Add to incident…</button>
          )}
          <button className="ghost" onClick={onClose} aria-label="Close event details">
            <Icon name="close" />
          </button>
        </header>
        <div className="body">
          <div className="tabs" role="tablist">
            {(
              [
                ['fields', `Normalized (${normalized.length})`],
                ['source', `Source fields (${source.length})`],
                ['raw', 'Raw'],
                ['json', 'JSON'],
              ] as const
            ).map(([k, l]) => (
              <button key={k} role="tab" aria-selected={tab === k} onClick={() => setTab(k)}>
                {l}
              </button>
            ))}
          </div>
          <div role="tabpanel">
            {tab === 'fields' && kv(normalized)}
            {tab === 'source' && (source.length ? kv(source, 'original.') : <p className="muted">The parser kept no source fields for this event.</p>)}
            {tab === 'raw' && (raw ? <pre className="raw">{raw}</pre> : <p className="muted">No raw record was kept.</p>)}
            {tab === 'json' && <pre className="raw">{JSON.stringify(event, null, 2)}</pre>}
          </div>
        </div>
      </aside>
      {adding && <AddToIncident eventId={String(flat['vigil.event_id'])} onClose={() => setAdding(false)} />}
    </>
  );
}

/** Links the event to an open incident of the tenant (POST /api/v1/incidents/{id}/links). */
function AddToIncident({ eventId, onClose }: { eventId: string; onClose: () => void }) {
  const { tenant } = useSession();
  const [list, setList] = useState<{ id: string; title: string }[] | null>(null);
  const [pick, setPick] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  useEffect(() => {
    api.incidents({ tenant, status: 'open,in_progress', limit: 100 }).then((p) => setList(p.items), (e) => {
      setList([]);
      setError(e);
    });
  }, [tenant]);
  return (
    <Dialog
      title="Add the event to an incident"
      onClose={onClose}
      actions={
        <>
          <button onClick={onClose}>{done ? 'Close' : 'Cancel'}</button>
          {!done && (
            <button
              className="primary"
              disabled={!pick}
              onClick={async () => {
                try {
                  const inc = await api.linkObjects(pick, 'event', [eventId]);
                  setDone(inc.title);
                } catch (e) {
                  setError(e);
                }
              }}
            >
              Add
            </button>
          )}
        </>
      }
    >
      <ErrorNotice error={error} what="Adding events to incidents" />
      {done ? (
        <p>The event is linked to “{done}”.</p>
      ) : (
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
      )}
    </Dialog>
  );
}
