// The result table: virtualized rows (only what is on screen is in the DOM), chosen columns,
// every cell a pivot.
import { useRef } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import type { Json } from '../api/types';
import { display } from '../lib/query';
import { fmtTime } from '../lib/time';
import { PV } from './Pivot';

export interface Row {
  flat: Record<string, Json>;
  index: number;
}

export function EventTable({
  rows,
  columns,
  selected,
  onOpen,
  onRemoveColumn,
}: {
  rows: Row[];
  columns: string[];
  selected: number | null;
  onOpen: (index: number) => void;
  onRemoveColumn: (c: string) => void;
}) {
  const scroller = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => 33,
    overscan: 12,
  });
  const template = ['212px', ...columns.map((c) => (c === 'message' || c === 'event.original' ? 'minmax(320px, 3fr)' : 'minmax(120px, 1fr)'))].join(' ');
  const items = v.getVirtualItems();
  return (
    <div className="results card flush" ref={scroller} data-testid="results" tabIndex={0} aria-label="Results">
      <div className="vtable" role="table" aria-rowcount={rows.length + 1}>
        <div className="vhead" role="row" style={{ gridTemplateColumns: template }}>
          <div className="cell" role="columnheader">
            Time
          </div>
          {columns.map((c) => (
            <div className="cell" role="columnheader" key={c}>
              <span className="mono" style={{ textTransform: 'none' }}>
                {c}
              </span>
              <button onClick={() => onRemoveColumn(c)} aria-label={`Remove column ${c}`} title="Remove column">
                ×
              </button>
            </div>
          ))}
        </div>
        <div style={{ height: v.getTotalSize(), position: 'relative' }} role="rowgroup">
          {items.map((it) => {
            const r = rows[it.index];
            return (
              <div
                key={it.key}
                role="row"
                aria-rowindex={it.index + 2}
                className={'vrow' + (selected === r.index ? ' selected' : '')}
                data-index={it.index}
                ref={v.measureElement}
                style={{ gridTemplateColumns: template, position: 'absolute', top: 0, left: 0, right: 0, transform: `translateY(${it.start}px)` }}
                onClick={() => onOpen(r.index)}
                onKeyDown={(e) => e.key === 'Enter' && onOpen(r.index)}
              >
                <div className="cell mono" role="cell">
                  <button
                    type="button"
                    className="pv"
                    aria-label={`Open event from ${fmtTime(display(r.flat['@timestamp']))}`}
                    onClick={(e) => {
                      e.stopPropagation();
                      onOpen(r.index);
                    }}
                  >
                    {fmtTime(display(r.flat['@timestamp']))}
                  </button>
                </div>
                {columns.map((c) => (
                  <div className={'cell' + (c === 'message' || c === 'event.original' ? ' wrap' : '')} role="cell" key={c}>
                    <PV field={c} value={r.flat[c] ?? null} />
                  </div>
                ))}
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
