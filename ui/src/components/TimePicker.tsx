// Relative ranges (last 15 minutes …) and absolute ones (from / to), as the API takes them.
import { useEffect, useRef, useState } from 'react';
import { fromInput, label, RELATIVE, resolve, toInput, type Range } from '../lib/time';
import { Icon } from './Icon';

export function TimePicker({ value, onChange }: { value: Range; onChange: (r: Range) => void }) {
  const [open, setOpen] = useState(false);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [rel, setRel] = useState('');
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (!open) return;
    const [f, t] = resolve(value);
    setFrom(toInput(f));
    setTo(toInput(t));
    setRel('');
    const onDown = (e: MouseEvent) => {
      if (!box.current?.contains(e.target as Node)) setOpen(false);
    };
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    window.addEventListener('mousedown', onDown);
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('mousedown', onDown);
      window.removeEventListener('keydown', onKey);
    };
  }, [open, value]);

  const applyAbs = () => {
    const f = fromInput(from);
    const t = fromInput(to);
    if (f) {
      onChange({ from: f, to: t });
      setOpen(false);
    }
  };

  return (
    <div className="timepicker" ref={box}>
      <button onClick={() => setOpen(!open)} aria-expanded={open} aria-haspopup="dialog" data-testid="timepicker">
        <Icon name="clock" />
        {label(value)}
      </button>
      {open && (
        <div className="popover" role="dialog" aria-label="Time range">
          <div className="quick">
            <h3>Relative</h3>
            {RELATIVE.map(([k, l]) => (
              <button
                key={k}
                aria-pressed={value.from === k && !value.to}
                onClick={() => {
                  onChange({ from: k });
                  setOpen(false);
                }}
              >
                {l}
              </button>
            ))}
          </div>
          <div style={{ display: 'flex', flexDirection: 'column', gap: 10 }}>
            <h3>Absolute</h3>
            <label className="field">
              From
              <input type="datetime-local" value={from} onChange={(e) => setFrom(e.target.value)} />
            </label>
            <label className="field">
              To
              <input type="datetime-local" value={to} onChange={(e) => setTo(e.target.value)} />
            </label>
            <button className="primary" onClick={applyAbs}>
              Apply range
            </button>
            <label className="field">
              Other relative (e.g. 90m, 3d)
              <span className="row">
                <input
                  value={rel}
                  onChange={(e) => setRel(e.target.value)}
                  placeholder="90m"
                  style={{ flex: 1 }}
                  onKeyDown={(e) => {
                    if (e.key === 'Enter' && /^\d+[smhdw]$/.test(rel.trim())) {
                      onChange({ from: rel.trim() });
                      setOpen(false);
                    }
                  }}
                />
              </span>
            </label>
          </div>
        </div>
      )}
    </div>
  );
}
