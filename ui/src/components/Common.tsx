import { useEffect, useRef, type ReactNode } from 'react';
import { ApiError } from '../api/client';
import type { Severity } from '../api/types';
import { Icon } from './Icon';

export function SeverityBadge({ s }: { s: Severity }) {
  return <span className={`badge sev-${s}`}>{s}</span>;
}

export function StatusBadge({ s }: { s: string }) {
  return <span className={`badge status-${s}`}>{s.replace('_', ' ')}</span>;
}

export function ErrorNotice({ error, what }: { error: unknown; what?: string }) {
  if (!error) return null;
  if (error instanceof ApiError && error.unavailable) {
    return (
      <div className="notice warn" role="status">
        <strong>{what ?? 'This page'} is not available on this server.</strong>{' '}
        <span className="muted">
          The server answered “{error.message}”. It runs without the metadata store (accounts, alerts, incidents) or
          predates these routes; search, dashboards and sources work without it.
        </span>
      </div>
    );
  }
  const msg = error instanceof Error ? error.message : String(error);
  const code = error instanceof ApiError ? error.code : undefined;
  return (
    <div className="notice error" role="alert">
      <strong>{code ? `${code}: ` : ''}</strong>
      {msg.includes('\n') ? <pre className="mono" style={{ margin: '6px 0 0', whiteSpace: 'pre-wrap' }}>{msg}</pre> : msg}
    </div>
  );
}

export function Dialog({
  title,
  children,
  onClose,
  actions,
}: {
  title: string;
  children: ReactNode;
  onClose: () => void;
  actions?: ReactNode;
}) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const prev = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('input, select, textarea, button')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('keydown', onKey);
      prev?.focus?.();
    };
  }, [onClose]);
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-label={title} ref={ref}>
        <div className="row">
          <h2 style={{ flex: 1, margin: 0 }}>{title}</h2>
          <button className="ghost small" onClick={onClose} aria-label="Close">
            <Icon name="close" />
          </button>
        </div>
        {children}
        {actions && <div className="actions">{actions}</div>}
      </div>
    </div>
  );
}

export function fmtNum(n: number | undefined | null): string {
  if (n === undefined || n === null || Number.isNaN(n)) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 });
}
