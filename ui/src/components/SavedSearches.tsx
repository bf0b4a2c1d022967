// Saved searches: the caller's own and the tenant's shared ones (GET/POST/DELETE
// /api/v1/saved-searches); opening one sets the query and range in the URL.
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import type { SavedSearch } from '../api/types';
import { Dialog, ErrorNotice } from './Common';

export function SavedSearches({
  tenant,
  query,
  from,
  onOpen,
}: {
  tenant: string;
  query: string;
  from: string;
  onOpen: (s: SavedSearch) => void;
}) {
  const [open, setOpen] = useState(false);
  const [list, setList] = useState<SavedSearch[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [name, setName] = useState('');
  const [shared, setShared] = useState(false);
  const box = useRef<HTMLDivElement>(null);

  const load = () =>
    api.savedSearches(tenant).then(
      (l) => {
        setList(l);
        setError(null);
      },
      (e) => {
        setList([]);
        setError(e);
      },
    );
  useEffect(() => {
    if (!open) return;
    void load();
    const onDown = (e: MouseEvent) => !box.current?.contains(e.target as Node) && setOpen(false);
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    window.addEventListener('mousedown', onDown);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('mousedown', onDown);
      window.removeEventListener('keydown', onKey);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, tenant]);

  return (
    <div className="usermenu" ref={box}>
      <button onClick={() => setOpen(!open)} aria-expanded={open} aria-haspopup="menu">
        Saved
      </button>
      {open && (
        <div className="menu" role="menu" style={{ minWidth: 320 }}>
          <div className="menu-title">Saved searches in {tenant}</div>
          {error ? (
            <div style={{ padding: '4px 10px', fontSize: 13 }}>
              <ErrorNotice error={error} what="Saving searches" />
            </div>
          ) : list === null ? (
            <div className="muted" style={{ padding: '4px 10px' }}>
              Loading…
            </div>
          ) : list.length === 0 ? (
            <div className="muted" style={{ padding: '4px 10px' }}>
              None yet.
            </div>
          ) : (
            list.map((s) => (
              <div key={s.id} className="row" style={{ flexWrap: 'nowrap', gap: 2 }}>
                <button role="menuitem" title={s.query} onClick={() => { setOpen(false); onOpen(s); }} style={{ flex: 1, minWidth: 0 }}>
                  <span style={{ overflow: 'hidden', textOverflow: 'ellipsis' }}>{s.name}</span>
                  {s.shared && <span className="badge" style={{ marginLeft: 6 }}>shared</span>}
                </button>
                <button
                  className="small"
                  aria-label={`Delete saved search ${s.name}`}
                  style={{ width: 'auto' }}
                  onClick={async () => {
                    try {
                      await api.deleteSavedSearch(s.id);
                      void load();
                    } catch (e) {
                      setError(e);
                    }
                  }}
                >
                  ×
                </button>
              </div>
            ))
          )}
          <button
            role="menuitem"
            disabled={!!error || !query.trim()}
            onClick={() => {
              setOpen(false);
              setSaving(true);
            }}
          >
            Save this search…
          </button>
        </div>
      )}
      {saving && (
        <Dialog
          title="Save search"
          onClose={() => setSaving(false)}
          actions={
            <>
              <button onClick={() => setSaving(false)}>Cancel</button>
              <button
                className="primary"
                disabled={!name.trim()}
                onClick={async () => {
                  try {
                    await api.saveSearch({ tenant, name, query, time_range: from, shared });
                    setSaving(false);
                    setName('');
                  } catch (e) {
                    setError(e);
                    setSaving(false);
                  }
                }}
              >
                Save
              </button>
            </>
          }
        >
          <label className="field">
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <p className="muted mono" style={{ margin: 0 }}>
            {query} · {from}
          </p>
          <label className="checkbox">
            <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} /> Share with everyone in {tenant}
          </label>
        </Dialog>
      )}
    </div>
  );
}
