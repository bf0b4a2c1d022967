// Sources, monitoring policies, normalizers, active lists and context tables: the calls the
// Sources and Administration pages make. Payload types are the OpenAPI document's schemas
// (schema.d.ts, generated: `npm run gen:api`).
import { request } from './client';
import type { components } from './schema';

type S = components['schemas'];
export type SourceView = S['SourceView'];
export type SourcePoint = S['SourcePoint'];
export type TenantEps = S['TenantEps'];
export type MonitoringPolicy = S['MonitoringPolicy'];
export type MonitoringPolicySpec = S['MonitoringPolicySpec'];
export type NormalizerInfo = S['NormalizerInfo'];
export type TryRequest = S['TryRequest'];
export type TryResponse = S['TryResponse'];
export type CollectorList = S['CollectorList'];
export type CollectorView = S['CollectorView'];
export type CollectorValidation = S['CollectorValidation'];
export type CollectorProblem = S['CollectorProblem'];
export type CollectorSaved = S['CollectorSaved'];
export type ListBody = S['ListBody'];
export type EntryBody = S['EntryBody'];
export type ListImportResult = S['ListImportResult'];
type PagedSources = S['Paged_SourceView'];

const enc = encodeURIComponent;

export const sourcesApi = {
  sources: (tenant?: string, cursor?: string) =>
    request<PagedSources>('/api/v1/sources', { query: { tenant, cursor, limit: 1000 } }),
  series: (tenant: string, id: string, hours = 1) =>
    request<SourcePoint[]>('/api/v1/sources/series', { query: { tenant, id, hours } }),
  eps: (tenant?: string) => request<TenantEps[]>('/api/v1/sources/eps', { query: { tenant } }),

  policies: (tenant?: string) => request<MonitoringPolicy[]>('/api/v1/monitoring-policies', { query: { tenant } }),
  createPolicy: (p: MonitoringPolicySpec) =>
    request<MonitoringPolicy>('/api/v1/monitoring-policies', { method: 'POST', body: p }),
  replacePolicy: (id: string, p: MonitoringPolicySpec) =>
    request<MonitoringPolicy>(`/api/v1/monitoring-policies/${enc(id)}`, { method: 'PUT', body: p }),
  deletePolicy: (id: string) => request<void>(`/api/v1/monitoring-policies/${enc(id)}`, { method: 'DELETE' }),

  normalizers: (tenant?: string) => request<NormalizerInfo[]>('/api/v1/normalizers', { query: { tenant } }),
  tryNormalizer: (r: TryRequest, signal?: AbortSignal) =>
    request<TryResponse>('/api/v1/normalizers/try', { method: 'POST', body: r, signal }),

  collectors: (tenant?: string) => request<CollectorList>('/api/v1/collectors', { query: { tenant } }),
  validateCollector: (id: string | null, yaml: string, signal?: AbortSignal) =>
    request<CollectorValidation>('/api/v1/collectors/validate', { method: 'POST', body: { id, yaml }, signal }),
  saveCollector: (id: string, yaml: string) =>
    request<CollectorSaved>(`/api/v1/collectors/${enc(id)}`, { method: 'PUT', body: { yaml } }),
  deleteCollector: (id: string) => request<CollectorSaved>(`/api/v1/collectors/${enc(id)}`, { method: 'DELETE' }),
};

export const listsApi = {
  lists: (tenant?: string) => request<ListBody[]>('/api/v1/lists', { query: { tenant } }),
  entries: (name: string, tenant?: string) =>
    request<EntryBody[]>(`/api/v1/lists/${enc(name)}/entries`, { query: { tenant } }),
  put: (name: string, key: string, values: Record<string, unknown>, tenant?: string, ttl_seconds?: number) =>
    request<EntryBody>(`/api/v1/lists/${enc(name)}/entries/${enc(key)}`, {
      method: 'PUT',
      query: { tenant },
      body: ttl_seconds ? { values, ttl_seconds } : { values },
    }),
  remove: (name: string, key: string, tenant?: string) =>
    request<void>(`/api/v1/lists/${enc(name)}/entries/${enc(key)}`, { method: 'DELETE', query: { tenant } }),
  exportCsv: (name: string, tenant?: string) =>
    request<Blob>(`/api/v1/lists/${enc(name)}/export`, { query: { tenant }, blob: true }),
  importCsv: (name: string, csv: Blob, tenant?: string) =>
    request<ListImportResult>(`/api/v1/lists/${enc(name)}/import`, {
      method: 'POST',
      query: { tenant },
      file: new Blob([csv], { type: 'text/csv' }),
    }),
};
