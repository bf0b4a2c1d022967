// Source status: every component's counters from /api/v1/status, with events-per-second
// sparklines sampled while the page is open.
import { useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api/client';
import type { ComponentStatus } from '../api/types';
import { ErrorNotice, fmtNum } from '../components/Common';
import { PV } from '../components/Pivot';

const EVERY_MS = 5000;
const ORDER = ['connector', 'normalizer', 'pipeline', 'detection', 'destination', 'api'];
const TITLE: Record<string, string> = {
  connector: 'Sources (connectors)',
  normalizer: 'Normalizers',
  pipeline: 'Pipeline',
  detection: 'Detection',
  destination: 'Destinations',
  api: 'API',
};

function Counts({ m, bad }: { m: Record<string, number>; bad?: boolean }) {
  return (
    <>
      {Object.entries(m).map(([k, v]) => (
        <div key={k} className="mono" style={{ color: bad && v > 0 ? 'var(--danger)' : undefined }}>
          {k} {fmtNum(v)}
        </div>
      ))}
    </>
  );
}
const KEEP = 60;

function Spark({ points, label }: { points: number[]; label: string }) {
  const max = Math.max(1, ...points);
  const w = 120;
  const h = 28;
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${((i / Math.max(1, KEEP - 1)) * w).toFixed(1)},${(h - 2 - (p / max) * (h - 4)).toFixed(1)}`).join(' ');
  return (
    <svg className="spark" viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label}>
      <path d={d} fill="none" stroke="var(--accent)" strokeWidth={1.5} />
    </svg>
  );
}

export function SourcesPage() {
  const [comps, setComps] = useState<ComponentStatus[]>([]);
  const [error, setError] = useState<unknown>(null);
  const history = useRef(new Map<string, { t: number; n: number }[]>());
  const [, setTick] = useState(0);

  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const s = await api.status();
        if (stop) return;
        const now = Date.now();
        for (const c of s.components) {
          const k = `${c.kind}/${c.id}`;
          const h = history.current.get(k) ?? [];
          h.push({ t: now, n: c.events_in });
          if (h.length > KEEP + 1) h.shift();
          history.current.set(k, h);
        }
        setComps(s.components);
        setError(null);
        setTick((x) => x + 1);
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    void poll();
    const t = setInterval(poll, EVERY_MS);
    return () => {
      stop = true;
      clearInterval(t);
    };
  }, []);

  const rates = (k: string) => {
    const h = history.current.get(k) ?? [];
    const out: number[] = [];
    for (let i = 1; i < h.length; i++) out.push(Math.max(0, (h[i].n - h[i - 1].n) / ((h[i].t - h[i - 1].t) / 1000)));
    return out;
  };
  const kinds = useMemo(
    () => [...new Set(comps.map((c) => c.kind))].sort((a, b) => (ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99) || a.localeCompare(b)),
    [comps],
  );

  return (
    <div className="page">
      <div className="page-head">
        <h1>Sources and components</h1>
        <span className="muted">counters since the server started; rates sampled every {EVERY_MS / 1000} s while this page is open</span>
      </div>
      <ErrorNotice error={error} />
      {kinds.map((kind) => (
        <section className="card flush" key={kind} style={{ marginBottom: 14 }} aria-label={TITLE[kind] ?? kind}>
          <div className="card-head" style={{ padding: '12px 14px 4px' }}>
            <h2>{TITLE[kind] ?? kind}</h2>
          </div>
          <table className="data">
            <thead>
              <tr>
                <th>Id</th>
                <th>Events per second</th>
                <th className="num">Events in</th>
                <th className="num">Events out</th>
                <th className="num">Bytes in</th>
                <th>Errors</th>
                <th>Drops</th>
                <th>Gauges</th>
              </tr>
            </thead>
            <tbody>
              {comps
                .filter((c) => c.kind === kind)
                .map((c) => {
                  const r = rates(`${c.kind}/${c.id}`);
                  return (
                    <tr key={c.id}>
                      <td className="mono">{kind === 'connector' ? <PV field="vigil.source" value={c.id} /> : c.id}</td>
                      <td>
                        <div className="row" style={{ flexWrap: 'nowrap' }}>
                          <Spark points={r} label={`events per second of ${c.id}`} />
                          <span className="mono">{r.length ? fmtNum(r[r.length - 1]) : '…'}</span>
                        </div>
                      </td>
                      <td className="num">{fmtNum(c.events_in)}</td>
                      <td className="num">{fmtNum(c.events_out)}</td>
                      <td className="num">{fmtNum(c.bytes_in)}</td>
                      <td>
                        <Counts m={c.errors} bad />
                      </td>
                      <td>
                        <Counts m={c.drops} bad />
                      </td>
                      <td>
                        <Counts m={c.gauges} />
                      </td>
                    </tr>
                  );
                })}
            </tbody>
          </table>
        </section>
      ))}
    </div>
  );
}
