// Rules: what the server exposes about detection today (the detection components' counters);
// the rule list, editor and coverage matrix need the rules API (issue 15, not yet served).
import { useEffect, useState } from 'react';
import { Link } from 'react-router-dom';
import { api } from '../api/client';
import type { ComponentStatus } from '../api/types';
import { ErrorNotice, fmtNum } from '../components/Common';

export function RulesPage() {
  const [comps, setComps] = useState<ComponentStatus[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.status().then((s) => setComps(s.components), setError);
  }, []);
  const detect = (comps ?? []).filter((c) => /detect|rule|correlat|sigma/i.test(`${c.kind} ${c.id}`));
  return (
    <div className="page">
      <div className="page-head">
        <h1>Rules</h1>
      </div>
      <div className="notice" style={{ marginBottom: 14 }}>
        This server does not serve its rules over the API yet, so they cannot be listed or edited here. The detection
        engine loads the rule folders named in the configuration and reloads them when they change; check and test rules
        with <code>vigil rules lint</code> and <code>vigil rules test</code>. Alerts the rules raise are in the{' '}
        <Link to="/alerts">alert queue</Link>.
      </div>
      <ErrorNotice error={error} />
      <section className="card flush" aria-label="Detection components">
        <div className="card-head" style={{ padding: '12px 14px 4px' }}>
          <h2>Detection engine</h2>
        </div>
        <table className="data">
          <thead>
            <tr>
              <th>Component</th>
              <th className="num">Events evaluated</th>
              <th className="num">Detections</th>
              <th>Errors</th>
              <th>Gauges</th>
            </tr>
          </thead>
          <tbody>
            {detect.map((c) => (
              <tr key={`${c.kind}/${c.id}`}>
                <td className="mono">
                  {c.kind}/{c.id}
                </td>
                <td className="num">{fmtNum(c.events_in)}</td>
                <td className="num">{fmtNum(c.events_out)}</td>
                <td>{Object.entries(c.errors).map(([k, v]) => <div key={k} className="mono">{k} {fmtNum(v)}</div>)}</td>
                <td>{Object.entries(c.gauges).map(([k, v]) => <div key={k} className="mono">{k} {fmtNum(v)}</div>)}</td>
              </tr>
            ))}
            {comps && detect.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No detection component is running (no rules configured).
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </section>
    </div>
  );
}
