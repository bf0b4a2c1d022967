// Building queries in Vigil's query language (docs/query-language.md) from clicked values.

import type { Json } from '../api/types';

const BARE_FIELD = /^[A-Za-z0-9_.@-]+$/;
const BARE_VALUE = /^[A-Za-z0-9][A-Za-z0-9_.@:/+-]*$/;

export function fieldRef(field: string): string {
  return BARE_FIELD.test(field) ? field : '`' + field.replace(/`/g, '') + '`';
}

/** A value as a query literal: bare when it is a plain token (numbers, IPs, names), else quoted. */
export function literal(v: Json): string {
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
  if (BARE_VALUE.test(s) && !/^(and|or|not|to|in)$/i.test(s)) return s;
  return '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
}

export function term(field: string, v: Json): string {
  return `${fieldRef(field)}:${literal(v)}`;
}

/** Splits a query into its search expression and its pipeline (after the first top-level |). */
export function splitPipeline(q: string): [string, string] {
  let quote = false;
  let back = false;
  let slash = false;
  for (let i = 0; i < q.length; i++) {
    const c = q[i];
    if (c === '\\') {
      i++;
      continue;
    }
    if (c === '"' && !back && !slash) quote = !quote;
    else if (c === '`' && !quote && !slash) back = !back;
    else if (c === '|' && !quote && !back && !slash) {
      if (q[i + 1] === '|') {
        i++;
        continue;
      }
      return [q.slice(0, i).trim(), q.slice(i).trim()];
    }
  }
  return [q.trim(), ''];
}

function addClause(q: string, clause: string): string {
  const [search, pipe] = splitPipeline(q);
  const s = search === '' || search === '*' ? clause : /\bOR\b|\|\|/i.test(search) ? `(${search}) ${clause}` : `${search} ${clause}`;
  return pipe ? `${s} ${pipe}` : s;
}

export const pivot = {
  include: (q: string, f: string, v: Json) => addClause(q, term(f, v)),
  exclude: (q: string, f: string, v: Json) => addClause(q, `NOT ${term(f, v)}`),
  only: (f: string, v: Json) => term(f, v),
  groupBy: (q: string, f: string) => `${splitPipeline(q)[0] || '*'} | count by ${fieldRef(f)} | sort -count`,
  everywhere: (v: Json) => literal(typeof v === 'string' ? v : String(v)),
};

/** Flattens nested ECS JSON into dotted names; `original` keeps its own (flat) names. */
export function flatten(doc: { [k: string]: Json }, prefix = '', out: Record<string, Json> = {}): Record<string, Json> {
  for (const [k, v] of Object.entries(doc)) {
    const name = prefix ? `${prefix}.${k}` : k;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      if (!prefix && k === 'original') {
        for (const [ok, ov] of Object.entries(v)) out[`original.${ok}`] = ov;
      } else flatten(v, name, out);
    } else out[name] = v;
  }
  return out;
}

export function display(v: Json | undefined): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(display).join(', ');
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** The stages of the language, with a one-line help, for autocompletion. */
export const STAGES: [string, string][] = [
  ['where', 'keep rows matching an expression'],
  ['fields', 'keep these columns'],
  ['sort', 'sort; -f for descending'],
  ['head', 'the first N'],
  ['stats', 'aggregate: count(), dc(f), sum(f), avg(f), min, max, p95 ... by f'],
  ['count', 'count [by f1, f2]'],
  ['timechart', 'timechart span=5m count() [by f]'],
  ['top', 'top N f: most frequent values'],
  ['rare', 'rare N f: least frequent values'],
];

/** Common ECS fields, for autocompletion before any result is in. */
export const COMMON_FIELDS = [
  '@timestamp', 'message', 'event.category', 'event.action', 'event.outcome', 'event.dataset', 'event.module',
  'event.severity', 'event.code', 'host.name', 'host.ip', 'source.ip', 'source.port', 'destination.ip',
  'destination.port', 'user.name', 'process.name', 'process.pid', 'network.transport', 'url.path',
  'http.request.method', 'http.response.status_code', 'observer.product', 'observer.vendor', 'log.level',
];
