// Administration: users (roles per tenant), API tokens (the secret is shown once), tenants and
// the audit log.
import { useCallback, useEffect, useState } from 'react';
import { NavLink, Route, Routes } from 'react-router-dom';
import { api } from '../api/client';
import type { ApiToken, AuditRecord, Role, RoleGrant, Tenant, User } from '../api/types';
import { ROLES } from '../api/types';
import { Dialog, ErrorNotice } from '../components/Common';
import { useSession } from '../lib/session';
import { ListsAdmin } from './AdminLists';
import { StorageAdmin } from './AdminStorage';
import { ago, fmtTime } from '../lib/time';

export function AdminPage() {
  return (
    <div className="page">
      <div className="page-head">
        <h1>Administration</h1>
      </div>
      <nav className="tabs" aria-label="Administration">
        {[
          ['/admin', 'Users'],
          ['/admin/tokens', 'API tokens'],
          ['/admin/tenants', 'Tenants'],
          ['/admin/roles', 'Roles'],
          ['/admin/audit', 'Audit log'],
          ['/admin/lists', 'Lists and tables'],
          ['/admin/storage', 'Storage'],
        ].map(([to, l]) => (
          <NavLink key={to} to={to} end className="tab">
            {l}
          </NavLink>
        ))}
      </nav>
      <Routes>
        <Route index element={<Users />} />
        <Route path="tokens" element={<Tokens />} />
        <Route path="tenants" element={<Tenants />} />
        <Route path="roles" element={<Roles />} />
        <Route path="audit" element={<Audit />} />
        <Route path="lists" element={<ListsAdmin />} />
        <Route path="storage" element={<StorageAdmin />} />
      </Routes>
    </div>
  );
}

function roleLabel(r: Role): string {
  return r.replace(/_/g, ' ');
}

function GrantsEditor({ grants, onChange }: { grants: RoleGrant[]; onChange: (g: RoleGrant[]) => void }) {
  const { tenants } = useSession();
  return (
    <div style={{ display: 'flex', flexDirection: 'column', gap: 6 }}>
      {grants.map((g, i) => (
        <div className="row" key={i}>
          <select aria-label="Tenant" value={g.tenant} onChange={(e) => onChange(grants.map((x, j) => (j === i ? { ...x, tenant: e.target.value } : x)))}>
            {tenants.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
          <select aria-label="Role" value={g.role} onChange={(e) => onChange(grants.map((x, j) => (j === i ? { ...x, role: e.target.value as Role } : x)))}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {roleLabel(r)}
              </option>
            ))}
          </select>
          <button className="ghost small" onClick={() => onChange(grants.filter((_, j) => j !== i))} aria-label="Remove this role">
            Remove
          </button>
        </div>
      ))}
      <div>
        <button className="small" onClick={() => onChange([...grants, { tenant: tenants[0]?.id ?? 'main', role: 'tier1_analyst' }])}>
          Add a role
        </button>
      </div>
    </div>
  );
}

function Users() {
  const { tenant } = useSession();
  const [users, setUsers] = useState<User[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [editing, setEditing] = useState<User | null>(null);
  const [secret, setSecret] = useState<{ who: string; password: string } | null>(null);
  const [text, setText] = useState('');
  const load = useCallback(() => {
    api.users({ tenant, text: text || undefined, include_disabled: true }).then((p) => {
      setUsers(p.items);
      setError(null);
    }, setError);
  }, [tenant, text]);
  useEffect(load, [load]);

  return (
    <>
      <div className="row" style={{ marginBottom: 12 }}>
        <input data-search aria-label="Find users" placeholder="Find users" value={text} onChange={(e) => setText(e.target.value)} />
        <span style={{ flex: 1 }} />
        <button className="primary" onClick={() => setCreating(true)} disabled={!!error}>
          New user
        </button>
      </div>
      {secret && (
        <div className="notice warn" role="status" style={{ marginBottom: 12 }}>
          Initial password of <strong>{secret.who}</strong> (shown once; the user must change it at first sign-in):
          <div className="secret" style={{ marginTop: 6 }}>
            {secret.password}
          </div>
        </div>
      )}
      <ErrorNotice error={error} what="User administration" />
      {users && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>User name</th>
                <th>Name</th>
                <th>Roles</th>
                <th>Second factor</th>
                <th>Last sign-in</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {users.map((u) => (
                <tr key={u.id}>
                  <td className="mono">{u.username}</td>
                  <td>{u.display_name}</td>
                  <td>{u.roles.map((g) => `${roleLabel(g.role)} in ${g.tenant}`).join('; ')}</td>
                  <td>{u.totp_enabled ? 'TOTP' : <span className="muted">none</span>}</td>
                  <td title={u.last_login_at ? fmtTime(u.last_login_at) : undefined}>{u.last_login_at ? ago(u.last_login_at) : <span className="muted">never</span>}</td>
                  <td>{u.disabled ? <span className="badge">disabled</span> : u.locked_until && Date.parse(u.locked_until) > Date.now() ? <span className="badge sev-high">locked</span> : <span className="badge status-new">active</span>}</td>
                  <td>
                    <button className="small" onClick={() => setEditing(u)}>
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <UserDialog
          onClose={() => setCreating(false)}
          onSaved={(who, password) => {
            setCreating(false);
            if (password) setSecret({ who, password });
            load();
          }}
        />
      )}
      {editing && (
        <UserDialog
          user={editing}
          onClose={() => setEditing(null)}
          onSaved={(who, password) => {
            setEditing(null);
            if (password) setSecret({ who, password });
            load();
          }}
        />
      )}
    </>
  );
}

function UserDialog({ user, onClose, onSaved }: { user?: User; onClose: () => void; onSaved: (who: string, password: string | null) => void }) {
  const { tenant } = useSession();
  const [username, setUsername] = useState(user?.username ?? '');
  const [display, setDisplay] = useState(user?.display_name ?? '');
  const [email, setEmail] = useState(user?.email ?? '');
  const [grants, setGrants] = useState<RoleGrant[]>(user?.roles ?? [{ tenant, role: 'tier1_analyst' }]);
  const [disabled, setDisabled] = useState(user?.disabled ?? false);
  const [error, setError] = useState<unknown>(null);
  const save = async () => {
    try {
      if (!user) {
        const r = await api.createUser({ username, display_name: display, email: email || undefined, roles: grants });
        onSaved(r.user.username, r.password ?? null);
      } else {
        await api.updateUser(user.id, { display_name: display, email: email || null, disabled });
        await api.setRoles(user.id, grants);
        onSaved(user.username, null);
      }
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog
      title={user ? `Edit ${user.username}` : 'New user'}
      onClose={onClose}
      actions={
        <>
          {user?.totp_enabled && (
            <button
              onClick={async () => {
                try {
                  await api.disableTotp(user.id);
                  onSaved(user.username, null);
                } catch (e) {
                  setError(e);
                }
              }}
            >
              Remove second factor
            </button>
          )}
          {user && (
            <button
              onClick={async () => {
                try {
                  const r = await api.resetPassword(user.id);
                  onSaved(user.username, r.password);
                } catch (e) {
                  setError(e);
                }
              }}
            >
              Reset password
            </button>
          )}
          <button onClick={onClose}>Cancel</button>
          <button className="primary" onClick={save} disabled={!username.trim()}>
            Save
          </button>
        </>
      }
    >
      <ErrorNotice error={error} />
      <label className="field">
        User name
        <input value={username} onChange={(e) => setUsername(e.target.value)} disabled={!!user} autoComplete="off" />
      </label>
      <label className="field">
        Display name
        <input value={display} onChange={(e) => setDisplay(e.target.value)} />
      </label>
      <label className="field">
        E-mail
        <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
        <legend style={{ fontWeight: 500, fontSize: 13, marginBottom: 4 }}>Roles per tenant</legend>
        <GrantsEditor grants={grants} onChange={setGrants} />
      </fieldset>
      {user && (
        <label className="checkbox">
          <input type="checkbox" checked={disabled} onChange={(e) => setDisabled(e.target.checked)} /> Disabled
        </label>
      )}
      {!user && <p className="muted" style={{ margin: 0 }}>A random initial password is generated and shown once.</p>}
    </Dialog>
  );
}

function Tokens() {
  const { tenant } = useSession();
  const [tokens, setTokens] = useState<ApiToken[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [name, setName] = useState('');
  const [grants, setGrants] = useState<RoleGrant[]>([{ tenant, role: 'read_only' }]);
  const [days, setDays] = useState('90');
  const [created, setCreated] = useState<{ name: string; secret: string } | null>(null);
  const [creating, setCreating] = useState(false);
  const load = useCallback(() => {
    api.tokens(true).then((p) => {
      setTokens(p.items);
      setError(null);
    }, setError);
  }, []);
  useEffect(load, [load]);
  return (
    <>
      <div className="row" style={{ marginBottom: 12 }}>
        <span style={{ flex: 1 }} className="muted">
          Tokens authenticate scripts and integrations (<code>Authorization: Bearer vgl_…</code>).
        </span>
        <button className="primary" onClick={() => setCreating(true)} disabled={!!error}>
          New token
        </button>
      </div>
      {created && (
        <div className="notice warn" role="status" style={{ marginBottom: 12 }}>
          Token <strong>{created.name}</strong> — copy it now, it is shown only once:
          <div className="secret" style={{ marginTop: 6 }} data-testid="token-secret">
            {created.secret}
          </div>
        </div>
      )}
      <ErrorNotice error={error} what="Token administration" />
      {tokens && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>Name</th>
                <th>Roles</th>
                <th>Expires</th>
                <th>Last used</th>
                <th>Created by</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>{t.roles.map((g) => `${roleLabel(g.role)} in ${g.tenant}`).join('; ')}</td>
                  <td>{t.expires_at ? fmtTime(t.expires_at) : 'never'}</td>
                  <td>{t.last_used_at ? ago(t.last_used_at) : <span className="muted">never</span>}</td>
                  <td>{t.created_by}</td>
                  <td>{t.revoked ? <span className="badge">revoked</span> : <span className="badge status-new">active</span>}</td>
                  <td>
                    {!t.revoked && (
                      <button
                        className="small danger"
                        onClick={async () => {
                          if (!window.confirm(`Revoke the token ${t.name}? Clients using it stop working at once.`)) return;
                          try {
                            await api.revokeToken(t.id);
                            load();
                          } catch (e) {
                            setError(e);
                          }
                        }}
                      >
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <Dialog
          title="New API token"
          onClose={() => setCreating(false)}
          actions={
            <>
              <button onClick={() => setCreating(false)}>Cancel</button>
              <button
                className="primary"
                disabled={!name.trim()}
                onClick={async () => {
                  try {
                    const expires = Number(days) > 0 ? new Date(Date.now() + Number(days) * 86400e3).toISOString() : undefined;
                    const r = await api.createToken({ name, roles: grants, expires_at: expires });
                    setCreated({ name: r.token.name, secret: r.secret });
                    setCreating(false);
                    setName('');
                    load();
                  } catch (e) {
                    setError(e);
                    setCreating(false);
                  }
                }}
              >
                Create token
              </button>
            </>
          }
        >
          <label className="field">
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} placeholder="siem-export-script" />
          </label>
          <fieldset style={{ border: 0, padding: 0, margin: 0 }}>
            <legend style={{ fontWeight: 500, fontSize: 13, marginBottom: 4 }}>Roles per tenant</legend>
            <GrantsEditor grants={grants} onChange={setGrants} />
          </fieldset>
          <label className="field">
            Expires after (days, 0 for never)
            <input type="number" min={0} value={days} onChange={(e) => setDays(e.target.value)} />
          </label>
        </Dialog>
      )}
    </>
  );
}

function Tenants() {
  const { principal } = useSession();
  const [tenants, setTenants] = useState<Tenant[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [creating, setCreating] = useState(false);
  const [id, setId] = useState('');
  const [name, setName] = useState('');
  const load = useCallback(() => {
    api.tenants().then((t) => {
      setTenants(t);
      setError(null);
    }, setError);
  }, []);
  useEffect(load, [load]);
  return (
    <>
      <div className="row" style={{ marginBottom: 12 }}>
        <span style={{ flex: 1 }} />
        {principal.general_admin && (
          <button className="primary" onClick={() => setCreating(true)} disabled={!!error}>
            New tenant
          </button>
        )}
      </div>
      <ErrorNotice error={error} what="Tenant administration" />
      {tenants && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>Id</th>
                <th>Name</th>
                <th>Kind</th>
                <th>EPS limit</th>
                <th>State</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {tenants.map((t) => (
                <tr key={t.id}>
                  <td className="mono">{t.id}</td>
                  <td>
                    {t.name}
                    {t.description && <div className="muted">{t.description}</div>}
                  </td>
                  <td>{t.kind}</td>
                  <td>{t.eps_limit ?? <span className="muted">none</span>}</td>
                  <td>{t.disabled ? <span className="badge">disabled</span> : <span className="badge status-new">active</span>}</td>
                  <td>
                    {principal.general_admin && t.kind === 'customer' && (
                      <button
                        className="small"
                        onClick={async () => {
                          try {
                            await api.updateTenant(t.id, { disabled: !t.disabled });
                            load();
                          } catch (e) {
                            setError(e);
                          }
                        }}
                      >
                        {t.disabled ? 'Enable' : 'Disable'}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && (
        <Dialog
          title="New tenant"
          onClose={() => setCreating(false)}
          actions={
            <>
              <button onClick={() => setCreating(false)}>Cancel</button>
              <button
                className="primary"
                disabled={!id.trim() || !name.trim()}
                onClick={async () => {
                  try {
                    await api.createTenant({ id, name });
                    setCreating(false);
                    load();
                  } catch (e) {
                    setError(e);
                    setCreating(false);
                  }
                }}
              >
                Create
              </button>
            </>
          }
        >
          <label className="field">
            Id (letters, digits, - and _)
            <input value={id} onChange={(e) => setId(e.target.value)} />
          </label>
          <label className="field">
            Name
            <input value={name} onChange={(e) => setName(e.target.value)} />
          </label>
        </Dialog>
      )}
    </>
  );
}

function Audit() {
  const { tenant } = useSession();
  const [rows, setRows] = useState<AuditRecord[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [actor, setActor] = useState('');
  const [action, setAction] = useState('');
  useEffect(() => {
    api.audit({ tenant, actor: actor || undefined, action: action || undefined }).then((p) => {
      setRows(p.items);
      setCursor(p.next_cursor);
      setError(null);
    }, setError);
  }, [tenant, actor, action]);
  return (
    <>
      <div className="row" style={{ marginBottom: 12 }}>
        <input data-search aria-label="Actor" placeholder="Actor" value={actor} onChange={(e) => setActor(e.target.value)} />
        <input aria-label="Action" placeholder="Action, e.g. user.create" value={action} onChange={(e) => setAction(e.target.value)} />
      </div>
      <ErrorNotice error={error} what="The audit log" />
      {!error && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>Time</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Outcome</th>
                <th>Address</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td className="mono">{fmtTime(r.at)}</td>
                  <td>{r.actor}</td>
                  <td className="mono">{r.action}</td>
                  <td className="mono">
                    {r.target_kind}/{r.target_id}
                  </td>
                  <td>
                    <span className={`badge ${r.outcome === 'success' ? 'status-new' : 'sev-high'}`}>{r.outcome}</span>
                  </td>
                  <td className="mono">{r.source_ip ?? ''}</td>
                  <td className="mono" style={{ maxWidth: 360, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
                    {r.details && JSON.stringify(r.details) !== '{}' ? JSON.stringify(r.details) : ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {cursor && (
        <div className="row" style={{ marginTop: 8 }}>
          <button
            onClick={() =>
              api.audit({ tenant, actor: actor || undefined, action: action || undefined, cursor }).then((p) => {
                setRows((r) => [...r, ...p.items]);
                setCursor(p.next_cursor);
              }, setError)
            }
          >
            Load more
          </button>
        </div>
      )}
    </>
  );
}

function Roles() {
  const [roles, setRoles] = useState<{ role: Role; actions: string[] }[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api.roles().then(setRoles, setError);
  }, []);
  return (
    <>
      <p className="muted" style={{ marginTop: 0 }}>
        A user or token holds one role per tenant; a role allows these actions in that tenant (an administrator in Main
        is a general administrator of every tenant).
      </p>
      <ErrorNotice error={error} what="The role list" />
      {roles && (
        <div className="card flush">
          <table className="data">
            <thead>
              <tr>
                <th>Role</th>
                <th>Actions</th>
              </tr>
            </thead>
            <tbody>
              {roles.map((r) => (
                <tr key={r.role}>
                  <td style={{ whiteSpace: 'nowrap' }}>{roleLabel(r.role)}</td>
                  <td className="mono">{r.actions.join(', ')}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  );
}
