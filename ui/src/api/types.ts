// The API's JSON shapes. Payloads the OpenAPI document describes are its schemas
// (schema.d.ts, generated from ui/openapi.json by `npm run gen:api`); the rest — query
// parameters, search results with their typed event documents, status counters — are written
// here by hand.
import type { components } from './schema';

type S = components['schemas'];

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type EventDoc = { [k: string]: Json };

export interface ApiErrorBody {
  error: { code: string; message: string };
}

export interface SearchParams {
  q: string;
  from?: string;
  to?: string;
  limit?: number;
  tenant?: string;
}

export type SearchResponse =
  | { kind: 'events'; events: EventDoc[]; truncated: boolean; took_ms: number }
  | { kind: 'table'; columns: string[]; rows: Json[][]; took_ms: number };

export interface ComponentStatus {
  kind: string;
  id: string;
  events_in: number;
  events_out: number;
  bytes_in: number;
  bytes_out: number;
  errors: Record<string, number>;
  drops: Record<string, number>;
  gauges: Record<string, number>;
}

export interface StatusResponse {
  components: ComponentStatus[];
}

export interface Health {
  status: string;
  version: string;
}

export type Role = S['Role'];

export const ROLES: Role[] = [
  'administrator',
  'tenant_administrator',
  'tier2_analyst',
  'tier1_analyst',
  'read_only',
];

export type RoleGrant = S['RoleGrant'];

// hand-written: the console's code narrows on `kind`, and the document's `user_id` is optional
export type Principal = (
  | { kind: 'user'; id: string; username: string }
  | { kind: 'token'; id: string; name: string; user_id: string | null }
) & {
  roles: Record<string, Role>;
  general_admin: boolean;
  must_change_password: boolean;
};

export interface LoginResponse {
  csrf_token: string;
  expires_at: string;
  principal: Principal;
}

export interface Paged<T> {
  items: T[];
  next_cursor: string | null;
}

export type Tenant = S['Tenant'];

export type User = S['User'];

export type CreatedUser = S['CreatedUser'];

export type ApiToken = S['ApiToken'];

export interface CreatedToken {
  token: ApiToken;
  secret: string;
}

export type Severity = S['Severity'];
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
export type AlertStatus = S['AlertStatus'];
export const ALERT_STATUSES: AlertStatus[] = ['new', 'assigned', 'escalated', 'closed'];
export type Resolution = S['Resolution'];
export const RESOLUTIONS: Resolution[] = ['true_positive', 'false_positive', 'benign', 'duplicate'];
export type EntityKind = S['EntityKind'];

export type Entity = S['Entity'];

export type Alert = S['Alert'];

export type AlertDetail = S['AlertDetail'];

export interface AlertParams {
  tenant?: string;
  status?: string;
  min_severity?: Severity;
  rule_id?: string;
  assignee?: string;
  unassigned?: boolean;
  entity?: string;
  q?: string;
  since?: string;
  until?: string;
  sort?: 'last_seen' | 'first_seen' | 'created_at' | 'count' | 'risk_score' | 'severity';
  dir?: 'asc' | 'desc';
  limit?: number;
  cursor?: string;
}

export type AlertChangeRequest = S['AlertChangeRequest'];

export type BulkResult = S['BulkResult'];

export type AlertChange = S['AlertChange'];

export type Comment = S['Comment'];

export type AlertHistory = S['AlertHistory'];

export type Priority = S['Priority'];
export type IncidentStatus = S['IncidentStatus'];
export const INCIDENT_STATUSES: IncidentStatus[] = ['open', 'in_progress', 'closed'];

export type Incident = S['Incident'];

export interface IncidentParams {
  tenant?: string;
  status?: string;
  min_priority?: Priority;
  assignee?: string;
  category?: string;
  q?: string;
  limit?: number;
  cursor?: string;
}

export type NewIncidentRequest = S['NewIncidentRequest'];

export type IncidentChange = S['IncidentChange'];

export type TimelineEntry = S['TimelineEntry'];

export type SavedSearch = S['SavedSearch'];

export type Dashboard = S['Dashboard'];

export type DashboardWidget = S['Widget'];

export type DashboardTemplate = S['DashboardTemplate'];

export type StorageSpace = S['StorageSpace'];

export type Attachment = S['Attachment'];

export type AuditRecord = S['AuditRecord'];
