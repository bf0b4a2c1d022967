// Rules: the Sigma and correlation rules live in the server (GET /api/v1/rules) with their
// status, level, ATT&CK tags, log sources, match counts and cost; enable and disable; an editor
// that validates as you type (debounced POST /api/v1/rules/validate) with the problems at their
// line; "test against the rule's test events" and "test against the last 24 h" (retroscan)
// with the alerts the rule would raise; and the ATT&CK coverage matrix, coloured by the live
// rules and by whether their log sources sent events in the last 24 h.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useSearchParams } from 'react-router-dom';
import { ApiError } from '../api/client';
import { rulesApi, type Coverage, type RuleKind, type RuleProblem, type RuleRun, type RuleSummary } from '../api/rules';
import { ErrorNotice, fmtNum } from '../components/Common';
import { YamlEditor } from '../components/YamlEditor';
import { atLeast, useSession } from '../lib/session';

const LEVELS = ['informational', 'low', 'medium', 'high', 'critical'];

function levelClass(l?: string | null): string {
  switch (l) {
    case 'critical':
      return 'sev-critical';
    case 'high':
      return 'sev-high';
    case 'medium':
      return 'sev-medium';
    case 'low':
    case 'info':
    case 'informational':
      return 'sev-low';
    default:
      return '';
  }
}

function uuid(): string {
  if (typeof crypto !== 'undefined' && 'randomUUID' in crypto) return crypto.randomUUID();
  const h = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${h()}${h()}-${h()}-4${h().slice(1)}-a${h().slice(1)}-${h()}${h()}${h()}`;
}

function sigmaTemplate(): string {
  return `title: New detection
id: ${uuid()}
status: experimental
level: medium
description: What the rule finds and why it matters.
tags:
  - attack.credential-access
  - attack.t1110
logsource:
  product: linux
  service: sshd
detection:
  selection:
    process.name: sshd
    message|contains: Failed password
  condition: selection
tests:
  match:
    - {process.name: sshd, message: Failed password for root from 203.0.113.7 port 4242 ssh2}
  no_match:
    - {process.name: sshd, message: Accepted publickey for deploy}
`;
}

function correlationTemplate(): string {
  return `id: new-correlation-rule
version: 1
name: New correlation rule
description: What the rule finds and why it matters.
kind: standard
severity: medium
attack: {tactics: [credential-access], techniques: [T1110]}
window: 60s
group_by: [source.ip]
selectors:
  - name: failure
    query: 'event.module:sshd AND event.action:ssh_login AND event.outcome:failure'
    threshold: 3
tests:
  - name: three failures fire
    events:
      - {repeat: 3, every: 2s, event.module: sshd, event.action: ssh_login, event.outcome: failure, source.ip: 203.0.113.10}
    expect: {fires: 1}
`;
}

/** What one alert of a test or retroscan shows. */
function alertRow(a: Record<string, unknown>): { time: string; rule: string; matched: string; who: string } {
  const get = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), a);
  const s = (v: unknown) => (v === undefined || v === null ? '' : Array.isArray(v) ? v.join(', ') : String(v));
  const ev = get('event') as Record<string, unknown> | undefined;
  const matched = s(get('vigil.detection.matched')) || s(get('vigil.correlation.count') ? `count ${s(get('vigil.correlation.count'))}` : '');
  const who = [s(get('host.name')), s(get('user.name')), s(get('source.ip'))].filter(Boolean).join(' · ') || (ev ? s(ev['message'] ?? ev['process.name']) : '');
  return { time: s(get('@timestamp')), rule: s(get('rule.name')) || s(get('rule.id')), matched, who };
}

function RunResult({ run, what }: { run: RuleRun; what: string }) {
  const failed = run.tests.filter((t) => !t.passed);
  return (
    <section className="card rule-run" aria-label={`${what} result`} data-testid="rule-run">
      <div className="row">
        <h3 style={{ margin: 0, flex: 1 }}>{what}</h3>
        <span className="muted">
          {fmtNum(run.events)} event(s) evaluated{run.truncated ? ' (the newest 100,000)' : ''}
        </span>
        <span className={`badge ${run.alert_count ? 'sev-high' : ''}`} data-testid="rule-run-alerts">
          {fmtNum(run.alert_count)} alert(s)
        </span>
      </div>
      {run.tests.length > 0 && (
        <ul className="test-list">
          {run.tests.map((t, i) => (
            <li key={i}>
              <span className={`badge ${t.passed ? 'ok' : 'sev-critical'}`}>{t.passed ? 'pass' : 'fail'}</span> <span className="mono">{t.name}</span>
              {!t.passed && <div className="error-text">{t.detail}</div>}
            </li>
          ))}
        </ul>
      )}
      {failed.length === 0 && run.tests.length > 0 && <p className="muted" style={{ margin: '4px 0' }}>Every test passed.</p>}
      {run.alerts.length > 0 && (
        <div className="table-scroll">
          <table className="data">
            <thead>
              <tr>
                <th>Time</th>
                <th>Rule</th>
                <th>Matched</th>
                <th>Entities / event</th>
              </tr>
            </thead>
            <tbody>
              {run.alerts.slice(0, 100).map((a, i) => {
                const r = alertRow(a);
                return (
                  <tr key={i}>
                    <td className="mono">{r.time || '–'}</td>
                    <td>{r.rule}</td>
                    <td className="mono">{r.matched}</td>
                    <td className="mono">{r.who}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          {run.alerts.length > 100 && <p className="muted">The first 100 of {fmtNum(run.alert_count)} are shown.</p>}
        </div>
      )}
    </section>
  );
}

interface RuleDraft {
  /** Which opening of the editor (a save keeps it, so the editor is not rebuilt). */
  seq: number;
  /** The rule being edited; none for a new one. */
  id: string | null;
  kind: RuleKind;
  source: string;
  writable: boolean;
  path?: string | null;
}

function RuleEditor({
  initial,
  canWrite,
  onSaved,
  onClose,
}: {
  initial: RuleDraft;
  canWrite: boolean;
  onSaved: (r: RuleSummary, source: string) => void;
  onClose: () => void;
}) {
  const [kind, setKind] = useState<RuleKind>(initial.kind);
  const [source, setSource] = useState(initial.source);
  const [problems, setProblems] = useState<RuleProblem[]>([]);
  const [valid, setValid] = useState<boolean | null>(null);
  const [checking, setChecking] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [run, setRun] = useState<{ run: RuleRun; what: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const editable = canWrite && (initial.id === null || initial.writable);

  // validation as you type: 400 ms after the last keystroke, the previous request cancelled
  useEffect(() => {
    const ctl = new AbortController();
    setChecking(true);
    const t = setTimeout(() => {
      rulesApi
        .validate(kind, source, ctl.signal)
        .then((v) => {
          setProblems(v.problems);
          setValid(v.valid);
          setChecking(false);
        })
        .catch((e) => {
          if ((e as Error).name !== 'AbortError') {
            setError(e);
            setChecking(false);
          }
        });
    }, 400);
    return () => {
      clearTimeout(t);
      ctl.abort();
    };
  }, [kind, source]);

  const errors = problems.filter((p) => p.severity === 'error');
  const warnings = problems.filter((p) => p.severity !== 'error');

  async function act(what: string, f: () => Promise<void>) {
    setBusy(what);
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  }

  const title = initial.id ? `Rule ${initial.id}` : 'New rule';
  return (
    <section className="card rule-editor-card" aria-label="Rule editor">
      <div className="row" style={{ marginBottom: 8 }}>
        <h2 style={{ margin: 0, flex: 1 }}>{title}</h2>
        <label className="row">
          <span className="muted">Engine</span>
          <select value={kind} onChange={(e) => setKind(e.target.value as RuleKind)} disabled={initial.id !== null} aria-label="Rule engine">
            <option value="sigma">Sigma</option>
            <option value="correlation">Correlation</option>
          </select>
        </label>
        {initial.id === null && (
          <button className="small" onClick={() => setSource(kind === 'sigma' ? sigmaTemplate() : correlationTemplate())}>
            Insert template
          </button>
        )}
        <button className="ghost small" onClick={onClose}>
          Close editor
        </button>
      </div>
      {initial.id !== null && !initial.writable && (
        <p className="muted" style={{ marginTop: 0 }}>
          This rule comes from <span className="mono">{initial.path}</span>, a configured folder: it can be enabled, disabled and tested here, not changed.
          Save a copy under a new id with “New rule”.
        </p>
      )}
      <YamlEditor value={source} onChange={setSource} problems={problems} label="Rule YAML" readOnly={!editable} />
      <div className="validation" role="status" aria-live="polite" data-testid="rule-validation">
        {checking ? (
          <span className="muted">Checking…</span>
        ) : valid === null ? null : errors.length === 0 ? (
          <span className="ok-text">Valid{warnings.length ? ` (${warnings.length} warning${warnings.length > 1 ? 's' : ''})` : ''}</span>
        ) : (
          <span className="error-text">
            {errors.length} error{errors.length > 1 ? 's' : ''}
          </span>
        )}
        {problems.length > 0 && (
          <ul className="problems">
            {problems.map((p, i) => (
              <li key={i} className={p.severity === 'error' ? 'error-text' : 'warn-text'}>
                {p.line ? <span className="mono">line {p.line}{p.column ? `:${p.column}` : ''} </span> : null}
                {p.severity}: {p.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      <div className="row" style={{ marginTop: 10 }}>
        {editable && (
          <button
            className="primary"
            disabled={!valid || busy !== null}
            onClick={() =>
              act('save', async () => {
                const r = initial.id ? await rulesApi.update(initial.id, kind, source) : await rulesApi.create(kind, source);
                setSaved(`Saved ${r.id}: ${r.enabled ? 'running now' : 'disabled'}.`);
                onSaved(r, source);
              })
            }
          >
            {initial.id ? 'Save' : 'Create and enable'}
          </button>
        )}
        <button
          disabled={!valid || busy !== null}
          onClick={() => act('test', async () => setRun({ run: await rulesApi.test(kind, source), what: 'Test against the rule’s test events' }))}
        >
          Test against its test events
        </button>
        <button
          disabled={!valid || busy !== null}
          onClick={() => act('retro', async () => setRun({ run: await rulesApi.retroscan(kind, source, 24), what: 'Test against the last 24 h' }))}
        >
          Test against the last 24 h
        </button>
        {busy && <span className="muted">Working…</span>}
        {saved && <span className="ok-text" role="status">{saved}</span>}
      </div>
      <ErrorNotice error={error} />
      {run && <RunResult run={run.run} what={run.what} />}
    </section>
  );
}

function CoverageMatrix({ cov, rules }: { cov: Coverage; rules: RuleSummary[] }) {
  const byTactic = useMemo(() => {
    const m = new Map<string, Coverage['cells']>();
    for (const t of cov.tactics) m.set(t, []);
    for (const c of cov.cells) m.get(c.tactic)?.push(c);
    return m;
  }, [cov]);
  const title = useMemo(() => new Map(rules.map((r) => [r.id, r.title])), [rules]);
  const sources = Object.entries(cov.sources).sort((a, b) => b[1] - a[1]);
  const covered = cov.cells.filter((c) => c.sending.length > 0).length;
  const silent = cov.cells.filter((c) => c.live.length > 0 && c.sending.length === 0).length;
  return (
    <section className="card" aria-label="ATT&CK coverage">
      <div className="row" style={{ marginBottom: 8 }}>
        <h2 style={{ margin: 0, flex: 1 }}>ATT&amp;CK coverage</h2>
        <span className="legend">
          <span className="cov-swatch cov-sending" aria-hidden="true" /> live rule, its source sent in the last {cov.hours} h ({covered})
        </span>
        <span className="legend">
          <span className="cov-swatch cov-silent" aria-hidden="true" /> live rule, no events from its source ({silent})
        </span>
        <span className="legend">
          <span className="cov-swatch cov-disabled" aria-hidden="true" /> disabled rules only
        </span>
      </div>
      <p className="muted" style={{ marginTop: 0 }}>
        Techniques the rules name, under the tactics the same rules name. Vigil does not ship the ATT&amp;CK catalogue, so
        techniques no rule names are not listed. “Sending” means events with the rule’s <span className="mono">event.module</span>{' '}
        (Sigma: product, category or service) were stored in the last {cov.hours} h: {sources.length ? sources.map(([m, n]) => `${m} ${fmtNum(n)}`).join(', ') : 'none'}.
      </p>
      <div className="matrix" tabIndex={0} role="region" aria-label="ATT&CK matrix (scrolls sideways)">
      <div role="table" aria-label="ATT&CK matrix: tactics by techniques" data-testid="attack-matrix">
        <div role="rowgroup">
          <div role="row" className="matrix-row">
            {cov.tactics.map((t) => (
              <div role="columnheader" key={t} className="matrix-head">
                {t.replace(/-/g, ' ')}
                <span className="muted"> {byTactic.get(t)?.length ?? 0}</span>
              </div>
            ))}
          </div>
        </div>
        <div role="rowgroup">
          <div role="row" className="matrix-row">
            {cov.tactics.map((t) => (
              <div role="cell" key={t} className="matrix-col">
                {(byTactic.get(t) ?? []).map((c) => {
                  const state = c.sending.length ? 'sending' : c.live.length ? 'silent' : 'disabled';
                  const names = [...c.live, ...c.disabled].map((id) => title.get(id) ?? id);
                  const label = `${c.technique || 'tactic only'}: ${c.live.length} live rule(s), ${c.sending.length} with sending sources, ${c.disabled.length} disabled`;
                  return (
                    <div key={c.technique} className={`cov-cell cov-${state}`} title={`${label}\n${names.join('\n')}`} aria-label={label} data-testid="coverage-cell">
                      <span className="mono">{c.technique || '(tactic)'}</span>
                      <span className="cov-count">{c.live.length + c.disabled.length}</span>
                    </div>
                  );
                })}
              </div>
            ))}
          </div>
        </div>
      </div>
      </div>
    </section>
  );
}

export function RulesPage() {
  const { principal } = useSession();
  const canWrite = atLeast(principal, 'shared', 'tier2_analyst');
  const [params, setParams] = useSearchParams();
  const tab = params.get('tab') === 'coverage' ? 'coverage' : 'list';
  const [rules, setRules] = useState<RuleSummary[] | null>(null);
  const [cov, setCov] = useState<Coverage | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [editing, setEditing] = useState<RuleDraft | null>(null);
  const [filters, setFilters] = useState({ q: '', kind: '', status: '', level: '', tactic: '' });
  const editorRef = useRef<HTMLDivElement>(null);

  const load = useCallback(() => {
    rulesApi.list().then((l) => setRules(l.rules), setError);
  }, []);
  useEffect(() => {
    load();
    const t = setInterval(load, 10000);
    return () => clearInterval(t);
  }, [load]);
  useEffect(() => {
    if (tab === 'coverage') rulesApi.coverage(24).then(setCov, setError);
  }, [tab, rules]);

  const shown = useMemo(() => {
    const q = filters.q.toLowerCase();
    return (rules ?? [])
      .filter((r) => !filters.kind || r.kind === filters.kind)
      .filter((r) => !filters.status || (filters.status === 'enabled') === r.enabled)
      .filter((r) => !filters.level || r.level === filters.level || (filters.level === 'informational' && r.level === 'info'))
      .filter((r) => !filters.tactic || r.tactics.includes(filters.tactic))
      .filter((r) => !q || r.id.toLowerCase().includes(q) || r.title.toLowerCase().includes(q) || r.techniques.some((t) => t.toLowerCase().startsWith(q)))
      .sort((a, b) => Number(b.enabled) - Number(a.enabled) || b.matches - a.matches || a.title.localeCompare(b.title));
  }, [rules, filters]);
  const tactics = useMemo(() => [...new Set((rules ?? []).flatMap((r) => r.tactics))].sort(), [rules]);

  async function open(r: RuleSummary) {
    try {
      const d = await rulesApi.get(r.id);
      setEditing({ seq: Date.now(), id: r.id, kind: r.kind, source: d.source, writable: r.writable, path: r.path });
      setTimeout(() => editorRef.current?.scrollIntoView({ block: 'start' }), 50);
    } catch (e) {
      setError(e);
    }
  }

  async function toggle(r: RuleSummary) {
    try {
      const n = await rulesApi.setEnabled(r.id, !r.enabled);
      setRules((rs) => (rs ?? []).map((x) => (x.id === n.id && x.kind === n.kind ? n : x)));
    } catch (e) {
      setError(e);
    }
  }

  const sigma = (rules ?? []).filter((r) => r.kind === 'sigma' && r.enabled).length;
  const corr = (rules ?? []).filter((r) => r.kind === 'correlation' && r.enabled).length;
  const off = (rules ?? []).filter((r) => !r.enabled).length;
  const unavailable = error instanceof ApiError && error.unavailable;

  return (
    <div className="page">
      <div className="page-head">
        <h1>Rules</h1>
        {rules && (
          <span className="muted" data-testid="rule-totals">
            {sigma} Sigma · {corr} correlation running · {off} disabled
          </span>
        )}
        <span className="spacer" />
        {canWrite && !unavailable && (
          <button
            className="primary"
            onClick={() => {
              setEditing({ seq: Date.now(), id: null, kind: 'sigma', source: sigmaTemplate(), writable: true });
              setTimeout(() => editorRef.current?.scrollIntoView({ block: 'start' }), 50);
            }}
          >
            New rule
          </button>
        )}
      </div>
      <ErrorNotice error={error} what="The rules API" />
      <div className="tabs" role="tablist" aria-label="Rules views">
        <button role="tab" aria-selected={tab === 'list'} onClick={() => setParams({})}>
          Rules
        </button>
        <button role="tab" aria-selected={tab === 'coverage'} onClick={() => setParams({ tab: 'coverage' })}>
          ATT&amp;CK coverage
        </button>
      </div>
      <div ref={editorRef}>
        {editing && (
          <RuleEditor
            key={editing.seq}
            initial={editing}
            canWrite={canWrite}
            onClose={() => setEditing(null)}
            onSaved={(r, source) => {
              setEditing((e) => (e ? { ...e, id: r.id, writable: r.writable, path: r.path, source } : e));
              load();
            }}
          />
        )}
      </div>
      {tab === 'coverage' ? (
        cov ? <CoverageMatrix cov={cov} rules={rules ?? []} /> : !error && <p className="muted">Loading the coverage…</p>
      ) : (
        <section className="card flush" aria-label="Rule list">
          <div className="row filters" style={{ padding: '10px 12px' }}>
            <input
              type="search"
              placeholder="Id, title or technique"
              aria-label="Filter rules by id, title or technique"
              value={filters.q}
              onChange={(e) => setFilters({ ...filters, q: e.target.value })}
            />
            <select aria-label="Engine" value={filters.kind} onChange={(e) => setFilters({ ...filters, kind: e.target.value })}>
              <option value="">Every engine</option>
              <option value="sigma">Sigma</option>
              <option value="correlation">Correlation</option>
            </select>
            <select aria-label="Status" value={filters.status} onChange={(e) => setFilters({ ...filters, status: e.target.value })}>
              <option value="">Enabled and disabled</option>
              <option value="enabled">Enabled</option>
              <option value="disabled">Disabled</option>
            </select>
            <select aria-label="Level" value={filters.level} onChange={(e) => setFilters({ ...filters, level: e.target.value })}>
              <option value="">Every level</option>
              {LEVELS.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
            <select aria-label="Tactic" value={filters.tactic} onChange={(e) => setFilters({ ...filters, tactic: e.target.value })}>
              <option value="">Every tactic</option>
              {tactics.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </select>
            <span className="muted">
              {shown.length} of {rules?.length ?? 0}
            </span>
          </div>
          <div className="table-scroll">
            <table className="data" data-testid="rule-table">
              <thead>
                <tr>
                  <th>Status</th>
                  <th>Rule</th>
                  <th>Engine</th>
                  <th>Level</th>
                  <th>ATT&amp;CK</th>
                  <th>Log source</th>
                  <th className="num">Matches</th>
                  <th className="num">Fired</th>
                  <th>Cost</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={`${r.kind}/${r.id}`} data-rule-id={r.id}>
                    <td>
                      {canWrite ? (
                        <button
                          className={`small ${r.enabled ? '' : 'primary'}`}
                          onClick={() => toggle(r)}
                          aria-label={`${r.enabled ? 'Disable' : 'Enable'} ${r.title}`}
                        >
                          {r.enabled ? 'Disable' : 'Enable'}
                        </button>
                      ) : null}{' '}
                      <span className={`badge ${r.enabled ? 'ok' : ''}`}>{r.enabled ? 'enabled' : 'disabled'}</span>
                    </td>
                    <td>
                      <button className="link" onClick={() => open(r)}>
                        {r.title}
                      </button>
                      <div className="mono muted small-text">{r.id}</div>
                    </td>
                    <td>{r.kind === 'sigma' ? 'Sigma' : 'Correlation'}</td>
                    <td>{r.level ? <span className={`badge ${levelClass(r.level)}`}>{r.level}</span> : '–'}</td>
                    <td className="small-text">
                      {r.tactics.join(', ')}
                      {r.techniques.length > 0 && <div className="mono">{r.techniques.join(' ')}</div>}
                    </td>
                    <td className="mono small-text">{r.log_sources.join(', ') || 'any'}</td>
                    <td className="num">{fmtNum(r.matches)}</td>
                    <td className="num">{r.fired === null || r.fired === undefined ? '–' : fmtNum(r.fired)}</td>
                    <td className="small-text">
                      {r.cost.evaluations !== null && r.cost.evaluations !== undefined && <div>{fmtNum(r.cost.evaluations)} evaluations</div>}
                      {r.cost.state_bytes ? <div>{fmtNum(r.cost.state_bytes / 1024)} KiB state</div> : null}
                      {r.cost.prefiltered === true && <div>prefiltered</div>}
                      {r.cost.prefiltered === false && <div className="warn-text">every event of its source</div>}
                    </td>
                  </tr>
                ))}
                {rules && shown.length === 0 && (
                  <tr>
                    <td colSpan={9} className="muted">
                      No rule matches the filters.
                    </td>
                  </tr>
                )}
              </tbody>
            </table>
          </div>
        </section>
      )}
    </div>
  );
}
