// The console's only door to the server: every request goes through `request`, which adds
// the credentials, the CSRF header on writes, and turns error bodies into ApiError.
//
// Two ways to be signed in:
//  * a session (POST /api/v1/auth/login): an HttpOnly cookie the browser sends, plus the CSRF
//    token from the login answer, kept in sessionStorage and sent as X-CSRF-Token on writes;
//  * an API token (a `vgl_` token or the installation token in <data_dir>/api-token), kept in
//    sessionStorage (this tab only, gone when the browser closes) and sent as a bearer token.
//    Servers without accounts (no metadata store) accept only this.

import type {
  Alert,
  Attachment,
  AlertChangeRequest,
  AlertDetail,
  AlertHistory,
  AlertParams,
  ApiToken,
  AuditRecord,
  BulkResult,
  Comment,
  CreatedToken,
  CreatedUser,
  Dashboard,
  DashboardTemplate,
  DashboardWidget,
  Health,
  Incident,
  IncidentChange,
  IncidentParams,
  LoginResponse,
  NewIncidentRequest,
  Paged,
  Principal,
  Role,
  RoleGrant,
  SavedSearch,
  SearchParams,
  StorageSpace,
  SearchResponse,
  StatusResponse,
  Tenant,
  TimelineEntry,
  User,
} from './types';

const TOKEN_KEY = 'vigil.token';
const CSRF_KEY = 'vigil.csrf';

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
  ) {
    super(message);
  }

  /** The server does not offer this route (older server, or no metadata store). */
  get unavailable(): boolean {
    return (this.status === 404 && this.code === 'not_found') || this.code === 'core_unavailable';
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called when the server answers 401: the session ended or the token is no longer valid. */
export function onUnauthorized(l: Listener): () => void {
  unauthorizedListeners.add(l);
  return () => unauthorizedListeners.delete(l);
}

function storage(): Storage | null {
  try {
    return window.sessionStorage;
  } catch {
    return null;
  }
}

export function bearerToken(): string | null {
  return storage()?.getItem(TOKEN_KEY) ?? null;
}

type Query = Record<string, string | number | boolean | undefined | null>;

function qs(q?: Query): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

interface Options {
  method?: string;
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Do not report a 401 to the listeners (login attempts, probes). */
  quiet401?: boolean;
  /** The answer as a Blob (files, exports) instead of JSON. */
  blob?: boolean;
  /** A file sent as the body, with its own content type. */
  file?: Blob;
}

export async function request<T>(path: string, o: Options = {}): Promise<T> {
  const method = o.method ?? 'GET';
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = bearerToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (method !== 'GET' && method !== 'HEAD') {
    const csrf = storage()?.getItem(CSRF_KEY);
    if (csrf) headers['X-CSRF-Token'] = csrf;
  }
  let body: BodyInit | undefined;
  if (o.file) {
    headers['Content-Type'] = o.file.type || 'application/octet-stream';
    body = o.file;
  } else if (o.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(o.body);
  }
  let resp: Response;
  try {
    resp = await fetch(path + qs(o.query), {
      method,
      headers,
      body,
      signal: o.signal,
      credentials: 'same-origin',
    });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'the server cannot be reached');
  }
  if (!resp.ok) {
    let code = 'http_' + resp.status;
    let message = resp.statusText || `HTTP ${resp.status}`;
    try {
      const j = await resp.json();
      if (j?.error?.code) {
        code = j.error.code;
        message = j.error.message ?? message;
      }
    } catch {
      /* not JSON */
    }
    if (resp.status === 401 && !o.quiet401) unauthorizedListeners.forEach((l) => l());
    throw new ApiError(resp.status, code, message);
  }
  if (resp.status === 204) return undefined as T;
  if (o.blob) return (await resp.blob()) as T;
  return (await resp.json()) as T;
}

/** The installation token's principal on servers that predate accounts. */
function legacyPrincipal(): Principal {
  return {
    kind: 'token',
    id: 'api-token',
    name: 'API token',
    user_id: null,
    roles: { main: 'administrator' },
    general_admin: true,
    must_change_password: false,
  };
}

export const api = {
  health: () => request<Health>('/health'),

  // ------------------------------------------------------------------ authentication
  async login(username: string, password: string, totp?: string): Promise<LoginResponse> {
    const r = await request<LoginResponse>('/api/v1/auth/login', {
      method: 'POST',
      body: { username, password, totp: totp || undefined },
      quiet401: true,
    });
    storage()?.removeItem(TOKEN_KEY);
    storage()?.setItem(CSRF_KEY, r.csrf_token);
    return r;
  },

  /** Signs in with an API token: checked against the server before it is kept. */
  async useToken(token: string): Promise<Principal> {
    storage()?.setItem(TOKEN_KEY, token.trim());
    storage()?.removeItem(CSRF_KEY);
    try {
      return await api.me();
    } catch (e) {
      storage()?.removeItem(TOKEN_KEY);
      throw e;
    }
  },

  /** The caller. A server without accounts has no /auth/me: its token is an administrator. */
  async me(): Promise<Principal> {
    try {
      return await request<Principal>('/api/v1/auth/me', { quiet401: true });
    } catch (e) {
      if (e instanceof ApiError && e.unavailable && bearerToken()) {
        // prove the token is valid on a route every server has
        await request<StatusResponse>('/api/v1/status', { quiet401: true });
        return legacyPrincipal();
      }
      throw e;
    }
  },

  async logout(): Promise<void> {
    const hadToken = bearerToken() !== null;
    try {
      if (!hadToken) await request<void>('/api/v1/auth/logout', { method: 'POST', quiet401: true });
    } finally {
      storage()?.removeItem(TOKEN_KEY);
      storage()?.removeItem(CSRF_KEY);
    }
  },

  beginTotp: () => request<{ secret: string; uri: string }>('/api/v1/auth/totp', { method: 'POST' }),
  confirmTotp: (secret: string, code: string) =>
    request<void>('/api/v1/auth/totp/confirm', { method: 'POST', body: { secret, code } }),
  disableTotp: (userId: string) => request<void>(`/api/v1/users/${enc(userId)}/totp`, { method: 'DELETE' }),
  changePassword: (current: string, next: string) =>
    request<void>('/api/v1/auth/password', { method: 'POST', body: { current, new: next } }),

  // ------------------------------------------------------------------ search and status
  search: (p: SearchParams, signal?: AbortSignal) =>
    request<SearchResponse>('/api/v1/search', { method: 'POST', body: p, signal }),
  status: () => request<StatusResponse>('/api/v1/status'),
  savedSearches: (tenant?: string) => request<SavedSearch[]>('/api/v1/saved-searches', { query: { tenant } }),
  saveSearch: (s: { tenant?: string; name: string; query: string; time_range?: string; shared: boolean }) =>
    request<SavedSearch>('/api/v1/saved-searches', { method: 'POST', body: s }),
  deleteSavedSearch: (id: string) => request<void>(`/api/v1/saved-searches/${enc(id)}`, { method: 'DELETE' }),
  dashboards: (tenant?: string) => request<Dashboard[]>('/api/v1/dashboards', { query: { tenant } }),
  defaultDashboard: () => request<DashboardTemplate>('/api/v1/dashboards/default'),
  createDashboard: (d: { tenant?: string; name: string; shared: boolean; widgets: DashboardWidget[] }) =>
    request<Dashboard>('/api/v1/dashboards', { method: 'POST', body: d }),
  updateDashboard: (id: string, d: { name: string; shared: boolean; widgets: DashboardWidget[] }) =>
    request<Dashboard>(`/api/v1/dashboards/${enc(id)}`, { method: 'PUT', body: d }),
  deleteDashboard: (id: string) => request<void>(`/api/v1/dashboards/${enc(id)}`, { method: 'DELETE' }),
  storageSpaces: (tenant?: string) => request<StorageSpace[]>('/api/v1/storage/spaces', { query: { tenant } }),
  setRetention: (tenant: string, space: string, retention: string | null) =>
    request<StorageSpace>(`/api/v1/storage/spaces/${enc(tenant)}/${enc(space)}/retention`, { method: 'PUT', body: { retention } }),

  // ------------------------------------------------------------------ tenants, users, tokens
  tenants: () => request<Tenant[] | Paged<Tenant>>('/api/v1/tenants').then(items),
  createTenant: (t: { id: string; name: string; description?: string; eps_limit?: number | null }) =>
    request<Tenant>('/api/v1/tenants', { method: 'POST', body: t }),
  updateTenant: (id: string, patch: Partial<Pick<Tenant, 'name' | 'description' | 'disabled' | 'eps_limit'>>) =>
    request<Tenant>(`/api/v1/tenants/${enc(id)}`, { method: 'PATCH', body: patch }),
  roles: () => request<{ role: Role; actions: string[] }[]>('/api/v1/roles'),

  users: (q: { tenant?: string; text?: string; include_disabled?: boolean; cursor?: string } = {}) =>
    request<Paged<User>>('/api/v1/users', { query: { limit: 200, ...q } }),
  createUser: (u: { username: string; display_name?: string; email?: string; password?: string; roles: RoleGrant[] }) =>
    request<CreatedUser>('/api/v1/users', { method: 'POST', body: u }),
  updateUser: (id: string, patch: { display_name?: string; email?: string | null; disabled?: boolean }) =>
    request<User>(`/api/v1/users/${enc(id)}`, { method: 'PATCH', body: patch }),
  setRoles: (id: string, roles: RoleGrant[]) =>
    request<User>(`/api/v1/users/${enc(id)}/roles`, { method: 'PUT', body: { roles } }),
  resetPassword: (id: string) =>
    request<{ password: string | null }>(`/api/v1/users/${enc(id)}/password`, { method: 'POST', body: {} }),

  tokens: (include_revoked = false) =>
    request<Paged<ApiToken>>('/api/v1/tokens', { query: { include_revoked, limit: 200 } }),
  createToken: (t: { name: string; roles: RoleGrant[]; expires_at?: string; service?: boolean }) =>
    request<CreatedToken>('/api/v1/tokens', { method: 'POST', body: t }),
  revokeToken: (id: string) => request<void>(`/api/v1/tokens/${enc(id)}`, { method: 'DELETE' }),

  audit: (q: { tenant?: string; actor?: string; action?: string; cursor?: string; limit?: number } = {}) =>
    request<Paged<AuditRecord>>('/api/v1/audit', { query: { limit: 100, ...q } }),

  // ------------------------------------------------------------------ alerts
  alerts: (p: AlertParams, signal?: AbortSignal) =>
    request<Paged<Alert>>('/api/v1/alerts', { query: { ...p }, signal }),
  alert: (id: string) => request<AlertDetail>(`/api/v1/alerts/${enc(id)}`),
  updateAlert: (id: string, change: AlertChangeRequest) =>
    request<Alert>(`/api/v1/alerts/${enc(id)}`, { method: 'PATCH', body: change }),
  bulkAlerts: (ids: string[], update: AlertChangeRequest) =>
    request<BulkResult>('/api/v1/alerts/bulk', { method: 'POST', body: { ids, update } }),
  alertHistory: (id: string) => request<AlertHistory>(`/api/v1/alerts/${enc(id)}/history`),
  commentAlert: (id: string, body: string) =>
    request<Comment>(`/api/v1/alerts/${enc(id)}/comments`, { method: 'POST', body: { body } }),

  // ------------------------------------------------------------------ incidents
  incidents: (p: IncidentParams, signal?: AbortSignal) =>
    request<Paged<Incident>>('/api/v1/incidents', { query: { ...p }, signal }),
  incident: (id: string) => request<Incident>(`/api/v1/incidents/${enc(id)}`),
  createIncident: (n: NewIncidentRequest) =>
    request<Incident>('/api/v1/incidents', { method: 'POST', body: n }),
  updateIncident: (id: string, c: IncidentChange) =>
    request<Incident>(`/api/v1/incidents/${enc(id)}`, { method: 'PATCH', body: c }),
  linkAlerts: (id: string, alert_ids: string[]) =>
    request<Incident>(`/api/v1/incidents/${enc(id)}/alerts`, { method: 'POST', body: { alert_ids } }),
  linkObjects: (id: string, kind: 'event' | 'asset' | 'account', values: string[]) =>
    request<Incident>(`/api/v1/incidents/${enc(id)}/links`, { method: 'POST', body: { kind, values } }),
  timeline: (id: string) => request<TimelineEntry[]>(`/api/v1/incidents/${enc(id)}/timeline`),
  addTimeline: (id: string, text: string) =>
    request<TimelineEntry>(`/api/v1/incidents/${enc(id)}/timeline`, { method: 'POST', body: { text, kind: 'note' } }),
  incidentComments: (id: string) => request<Comment[]>(`/api/v1/incidents/${enc(id)}/comments`),
  commentIncident: (id: string, body: string) =>
    request<Comment>(`/api/v1/incidents/${enc(id)}/comments`, { method: 'POST', body: { body } }),
  exportIncident: (id: string) => request<Blob>(`/api/v1/incidents/${enc(id)}/export`, { blob: true }),
  reportIncident: (id: string) => request<Blob>(`/api/v1/incidents/${enc(id)}/report`, { blob: true }),
  attachments: (id: string) => request<Attachment[]>(`/api/v1/incidents/${enc(id)}/attachments`),
  attach: (id: string, file: File) =>
    request<Attachment>(`/api/v1/incidents/${enc(id)}/attachments`, { method: 'POST', query: { name: file.name }, file }),
  attachment: (id: string) => request<Blob>(`/api/v1/attachments/${enc(id)}`, { blob: true }),
};

function enc(s: string): string {
  return encodeURIComponent(s);
}

function items<T>(r: T[] | Paged<T>): T[] {
  return Array.isArray(r) ? r : r.items;
}
