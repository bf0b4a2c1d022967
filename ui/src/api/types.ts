// The API's JSON shapes, in one place. They follow vigil-api (search, status) and the
// /api/v1 routes of vigil-core's types (accounts, alerts, incidents, audit); when the server
// serves /api/v1/openapi.json these can be generated with openapi-typescript instead
// (docs/ui.md).

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

export type Role =
  | 'administrator'
  | 'tenant_administrator'
  | 'tier2_analyst'
  | 'tier1_analyst'
  | 'read_only';

export const ROLES: Role[] = [
  'administrator',
  'tenant_administrator',
  'tier2_analyst',
  'tier1_analyst',
  'read_only',
];

export interface RoleGrant {
  tenant: string;
  role: Role;
}

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

export interface Tenant {
  id: string;
  name: string;
  description: string;
  kind: 'main' | 'shared' | 'customer';
  disabled: boolean;
  eps_limit: number | null;
  created_at: string;
  updated_at: string;
}

export interface User {
  id: string;
  username: string;
  display_name: string;
  email: string | null;
  totp_enabled: boolean;
  roles: RoleGrant[];
  disabled: boolean;
  must_change_password: boolean;
  failed_logins: number;
  locked_until: string | null;
  last_login_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface CreatedUser {
  user: User;
  password: string | null;
}

export interface ApiToken {
  id: string;
  name: string;
  user_id: string | null;
  roles: RoleGrant[];
  endpoints: string[];
  revoked: boolean;
  expires_at: string | null;
  last_used_at: string | null;
  created_by: string;
  created_at: string;
}

export interface CreatedToken {
  token: ApiToken;
  secret: string;
}

export type Severity = 'low' | 'medium' | 'high' | 'critical';
export const SEVERITIES: Severity[] = ['low', 'medium', 'high', 'critical'];
export type AlertStatus = 'new' | 'assigned' | 'escalated' | 'closed';
export const ALERT_STATUSES: AlertStatus[] = ['new', 'assigned', 'escalated', 'closed'];
export type Resolution = 'true_positive' | 'false_positive' | 'benign' | 'duplicate';
export const RESOLUTIONS: Resolution[] = ['true_positive', 'false_positive', 'benign', 'duplicate'];
export type EntityKind = 'host' | 'user' | 'ip' | 'process' | 'file' | 'hash' | 'domain' | 'url';

export interface Entity {
  kind: EntityKind;
  value: string;
}

export interface Alert {
  id: string;
  tenant: string;
  rule_id: string;
  rule_name: string;
  rule_version: number;
  severity: Severity;
  risk_score: number;
  status: AlertStatus;
  resolution: Resolution | null;
  resolution_reason: string | null;
  assignee: string | null;
  tactics: string[];
  techniques: string[];
  entities: Entity[];
  group_key: string;
  filling: boolean;
  first_seen: string;
  last_seen: string;
  count: number;
  event_ids_kept: number;
  event_ids_dropped: number;
  incident_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface AlertDetail extends Alert {
  event_ids: string[];
}

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

export interface AlertChangeRequest {
  status?: AlertStatus;
  assignee?: string | null;
  resolution?: Resolution;
  resolution_reason?: string;
  severity?: Severity;
}

export interface BulkResult {
  updated: number;
  failed: number;
  items: { id: string; ok: boolean; error: { code: string; message: string } | null }[];
}

export interface AlertChange {
  alert_id: string;
  actor: string;
  at: string;
  field: string;
  old: string | null;
  new: string | null;
}

export interface Comment {
  id: string;
  tenant: string;
  target: { type: 'alert' | 'incident'; id: string };
  author: string;
  body: string;
  created_at: string;
}

export interface AlertHistory {
  changes: AlertChange[];
  comments: Comment[];
}

export type Priority = 'low' | 'medium' | 'high' | 'critical';
export type IncidentStatus = 'open' | 'in_progress' | 'closed';
export const INCIDENT_STATUSES: IncidentStatus[] = ['open', 'in_progress', 'closed'];

export interface Incident {
  id: string;
  tenant: string;
  title: string;
  description: string;
  category: string;
  priority: Priority;
  status: IncidentStatus;
  resolution: Resolution | null;
  assignee: string | null;
  alerts: string[];
  events: string[];
  assets: string[];
  accounts: string[];
  created_by: string;
  created_at: string;
  updated_at: string;
  closed_at: string | null;
}

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

export interface NewIncidentRequest {
  tenant?: string;
  title: string;
  description?: string;
  category?: string;
  priority?: Priority;
  assignee?: string;
  alerts?: string[];
}

export interface IncidentChange {
  title?: string;
  description?: string;
  category?: string;
  priority?: Priority;
  status?: IncidentStatus;
  resolution?: Resolution;
  assignee?: string | null;
}

export interface TimelineEntry {
  id: string;
  incident_id: string;
  at: string;
  author: string;
  kind: string;
  text: string;
  event_id: string | null;
  created_at: string;
}

export interface SavedSearch {
  id: string;
  tenant: string;
  owner: string;
  name: string;
  query: string;
  time_range: string;
  shared: boolean;
  created_at: string;
  updated_at: string;
}

export interface Attachment {
  id: string;
  incident_id: string;
  name: string;
  media_type: string;
  size: number;
  uploaded_by: string;
  created_at: string;
}

export interface AuditRecord {
  id: string;
  tenant: string;
  at: string;
  actor: string;
  action: string;
  target_kind: string;
  target_id: string;
  outcome: string;
  source_ip: string | null;
  details: Json;
}
