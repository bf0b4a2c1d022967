// The rules API (GET/POST /api/v1/rules...): the Sigma and correlation rules live in the
// server, their validation, tests, retroscan and ATT&CK coverage. Types follow the OpenAPI
// document's schemas of the same names.
import { request } from './client';

export type RuleKind = 'sigma' | 'correlation';

export interface RuleCost {
  evaluations?: number | null;
  prefiltered?: boolean | null;
  state_bytes?: number | null;
}

export interface RuleSummary {
  id: string;
  title: string;
  kind: RuleKind;
  enabled: boolean;
  level?: string | null;
  maturity?: string | null;
  tactics: string[];
  techniques: string[];
  log_sources: string[];
  path?: string | null;
  writable: boolean;
  matches: number;
  fired?: number | null;
  cost: RuleCost;
}

export interface RuleDetail extends RuleSummary {
  source: string;
}

export interface RuleList {
  rules: RuleSummary[];
  totals: { sigma_rules: number; correlation_rules: number; disabled: number };
}

export interface RuleProblem {
  line?: number | null;
  column?: number | null;
  severity: 'error' | 'warning' | string;
  message: string;
}

export interface Validation {
  valid: boolean;
  id?: string | null;
  problems: RuleProblem[];
}

export interface TestCase {
  name: string;
  passed: boolean;
  detail: string;
}

export interface RuleRun {
  events: number;
  truncated: boolean;
  tests: TestCase[];
  alert_count: number;
  alerts: Record<string, unknown>[];
}

export interface CoverageCell {
  tactic: string;
  technique: string;
  live: string[];
  sending: string[];
  disabled: string[];
}

export interface Coverage {
  tactics: string[];
  cells: CoverageCell[];
  sources: Record<string, number>;
  hours: number;
}

export const rulesApi = {
  list: () => request<RuleList>('/api/v1/rules'),
  get: (id: string) => request<RuleDetail>(`/api/v1/rules/${encodeURIComponent(id)}`),
  validate: (kind: RuleKind, source: string, signal?: AbortSignal) =>
    request<Validation>('/api/v1/rules/validate', { method: 'POST', body: { kind, source }, signal }),
  create: (kind: RuleKind, source: string) =>
    request<RuleSummary>('/api/v1/rules', { method: 'POST', body: { kind, source } }),
  update: (id: string, kind: RuleKind, source: string) =>
    request<RuleSummary>(`/api/v1/rules/${encodeURIComponent(id)}`, { method: 'PUT', body: { kind, source } }),
  setEnabled: (id: string, enabled: boolean) =>
    request<RuleSummary>(`/api/v1/rules/${encodeURIComponent(id)}/${enabled ? 'enable' : 'disable'}`, { method: 'POST' }),
  test: (kind: RuleKind, source: string) =>
    request<RuleRun>('/api/v1/rules/test', { method: 'POST', body: { kind, source } }),
  retroscan: (kind: RuleKind, source: string, hours: number) =>
    request<RuleRun>('/api/v1/rules/retroscan', { method: 'POST', body: { kind, source, hours } }),
  coverage: (hours = 24) => request<Coverage>('/api/v1/rules/coverage', { query: { hours } }),
};
