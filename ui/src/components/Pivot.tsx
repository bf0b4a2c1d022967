// Every value is a pivot: clicking one opens a menu to include it, exclude it, search only
// for it, group by its field, or search it everywhere; the result is an Events URL, so the
// browser's back button undoes a pivot.
import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useLocation, useNavigate } from 'react-router-dom';
import type { Json } from '../api/types';
import { display, pivot } from '../lib/query';

interface Target {
  field: string;
  value: Json;
  x: number;
  y: number;
}

const Ctx = createContext<(t: Target) => void>(() => {});

export function PivotProvider({ children }: { children: ReactNode }) {
  const [t, setT] = useState<Target | null>(null);
  const navigate = useNavigate();
  const loc = useLocation();
  const menu = useRef<HTMLDivElement>(null);
  const opener = useRef<HTMLElement | null>(null);

  const close = useCallback(() => {
    setT(null);
    opener.current?.focus();
  }, []);

  useEffect(() => {
    if (!t) return;
    menu.current?.querySelector<HTMLElement>('button')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') {
        e.stopPropagation();
        close();
      }
    };
    const onDown = (e: MouseEvent) => {
      if (!menu.current?.contains(e.target as Node)) setT(null);
    };
    window.addEventListener('keydown', onKey, true);
    window.addEventListener('mousedown', onDown);
    return () => {
      window.removeEventListener('keydown', onKey, true);
      window.removeEventListener('mousedown', onDown);
    };
  }, [t, close]);

  const go = (q: string) => {
    const cur = new URLSearchParams(loc.pathname === '/events' ? loc.search : '');
    cur.set('q', q);
    cur.delete('event');
    // Events' own default range is the last hour; from other pages a pivot looks at a day
    if (!cur.get('from')) cur.set('from', loc.pathname === '/events' ? '1h' : '24h');
    setT(null);
    navigate(`/events?${cur.toString()}`);
  };
  const currentQ = loc.pathname === '/events' ? (new URLSearchParams(loc.search).get('q') ?? '') : '';

  const open = useCallback((target: Target) => {
    opener.current = document.activeElement as HTMLElement | null;
    setT(target);
  }, []);

  const left = t ? Math.min(t.x, window.innerWidth - 250) : 0;
  const top = t ? Math.min(t.y, window.innerHeight - 230) : 0;
  return (
    <Ctx.Provider value={open}>
      {children}
      {t && (
        <div className="menu" role="menu" ref={menu} style={{ left, top }} aria-label={`Pivot on ${t.field}`}>
          <div className="menu-title">
            <span className="mono">{t.field}</span> = {display(t.value)}
          </div>
          <button role="menuitem" onClick={() => go(pivot.include(currentQ, t.field, t.value))}>
            Include this value
          </button>
          <button role="menuitem" onClick={() => go(pivot.exclude(currentQ, t.field, t.value))}>
            Exclude this value
          </button>
          <button role="menuitem" onClick={() => go(pivot.only(t.field, t.value))}>
            Only this value
          </button>
          <button role="menuitem" onClick={() => go(pivot.groupBy(currentQ, t.field))}>
            Group by {t.field}
          </button>
          <button role="menuitem" onClick={() => go(pivot.everywhere(t.value))}>
            Search everywhere
          </button>
          <button
            role="menuitem"
            onClick={() => {
              void navigator.clipboard?.writeText(display(t.value));
              close();
            }}
          >
            Copy value
          </button>
        </div>
      )}
    </Ctx.Provider>
  );
}

/** A value that opens the pivot menu. */
export function PV({ field, value, children }: { field: string; value: Json; children?: ReactNode }) {
  const open = useContext(Ctx);
  if (value === null || value === undefined || value === '') return null;
  if (Array.isArray(value)) {
    return (
      <>
        {value.map((v, i) => (
          <span key={i}>
            {i > 0 && ', '}
            <PV field={field} value={v} />
          </span>
        ))}
      </>
    );
  }
  return (
    <button
      type="button"
      className="pv"
      title={`${field}: pivot`}
      onClick={(e) => {
        e.stopPropagation();
        const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
        open({ field, value, x: r.left, y: r.bottom + 4 });
      }}
    >
      {children ?? display(value)}
    </button>
  );
}
