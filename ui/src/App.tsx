// The console's shell: sign-in, left navigation, top bar (tenant switcher, theme, shortcuts,
// user menu) and the pages.
import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { NavLink, Route, Routes, useLocation, useNavigate } from 'react-router-dom';
import { api, onUnauthorized } from './api/client';
import type { Principal } from './api/types';
import { Dialog } from './components/Common';
import { TotpDialog } from './components/Totp';
import { Icon, Logo, type IconName } from './components/Icon';
import { PivotProvider } from './components/Pivot';
import { atLeast, displayName, roleIn, SessionContext, type Session } from './lib/session';
import { focusSearch, SHORTCUTS, useGlobalShortcuts } from './lib/shortcuts';
import { useTheme } from './lib/theme';
import { ChangePasswordPage, LoginPage } from './pages/Login';

// Pages load on first visit: the sign-in page does not wait for the charts and the editor.
const AdminPage = lazy(() => import('./pages/Admin').then((m) => ({ default: m.AdminPage })));
const AlertsPage = lazy(() => import('./pages/Alerts').then((m) => ({ default: m.AlertsPage })));
const AlertDetailPage = lazy(() => import('./pages/Alerts').then((m) => ({ default: m.AlertDetailPage })));
// The dashboard (and the charts it pulls in) is fetched while the session is being checked.
const dashboardModule = import('./pages/Dashboard');
const DashboardPage = lazy(() => dashboardModule.then((m) => ({ default: m.DashboardPage })));
const EventsPage = lazy(() => import('./pages/Events').then((m) => ({ default: m.EventsPage })));
const IncidentsPage = lazy(() => import('./pages/Incidents').then((m) => ({ default: m.IncidentsPage })));
const IncidentDetailPage = lazy(() => import('./pages/Incidents').then((m) => ({ default: m.IncidentDetailPage })));
const RulesPage = lazy(() => import('./pages/Rules').then((m) => ({ default: m.RulesPage })));
const SourcesPage = lazy(() => import('./pages/Sources').then((m) => ({ default: m.SourcesPage })));

const TENANT_KEY = 'vigil.tenant';

export function App() {
  const [principal, setPrincipal] = useState<Principal | null>(null);
  const [checking, setChecking] = useState(true);
  const [expired, setExpired] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  useEffect(() => {
    api
      .me()
      .then(setPrincipal)
      .catch(() => setPrincipal(null))
      .finally(() => setChecking(false));
  }, []);

  useEffect(
    () =>
      onUnauthorized(() => {
        setPrincipal((p) => {
          if (p) setExpired(true);
          return null;
        });
      }),
    [],
  );

  if (checking) return <div className="empty">Loading…</div>;
  if (!principal)
    return (
      <LoginPage
        notice={notice ?? (expired ? 'Your session ended; sign in again.' : undefined)}
        onSignedIn={(p) => {
          setExpired(false);
          setNotice(null);
          setPrincipal(p);
        }}
      />
    );
  if (principal.must_change_password)
    return (
      <ChangePasswordPage
        username={principal.kind === 'user' ? principal.username : ''}
        onSignedIn={setPrincipal}
        onSignInAgain={(n) => {
          setNotice(n);
          setPrincipal(null);
        }}
        onCancel={() => api.logout().finally(() => setPrincipal(null))}
      />
    );
  return <Console principal={principal} onSignedOut={() => setPrincipal(null)} />;
}

const NAV: [string, string, IconName][] = [
  ['/', 'Dashboard', 'dashboard'],
  ['/events', 'Events', 'events'],
  ['/alerts', 'Alerts', 'alerts'],
  ['/incidents', 'Incidents', 'incidents'],
  ['/rules', 'Rules', 'rules'],
  ['/sources', 'Sources', 'sources'],
  ['/admin', 'Administration', 'admin'],
];

function Console({ principal, onSignedOut }: { principal: Principal; onSignedOut: () => void }) {
  const [theme, setTheme] = useTheme();
  const [help, setHelp] = useState(false);
  const [totp, setTotp] = useState(false);
  const [menu, setMenu] = useState(false);
  const [version, setVersion] = useState('');
  const navigate = useNavigate();
  const loc = useLocation();
  const fallbackTenants = useMemo(() => {
    const ids = Object.keys(principal.roles);
    return (ids.length ? ids : ['main']).map((id) => ({ id, name: id }));
  }, [principal]);
  const [tenants, setTenants] = useState(fallbackTenants);
  const [tenant, setTenantState] = useState(() => {
    const saved = localStorage.getItem(TENANT_KEY);
    return saved && (principal.general_admin || principal.roles[saved]) ? saved : (fallbackTenants[0]?.id ?? 'main');
  });

  useEffect(() => {
    api.health().then((h) => setVersion(h.version), () => {});
    api
      .tenants()
      .then((ts) => {
        const mine = ts.filter((t) => !t.disabled && (principal.general_admin || principal.roles[t.id]));
        if (mine.length) setTenants(mine.map((t) => ({ id: t.id, name: t.name || t.id })));
      })
      .catch(() => setTenants(fallbackTenants));
  }, [principal, fallbackTenants]);

  const setTenant = useCallback((t: string) => {
    setTenantState(t);
    localStorage.setItem(TENANT_KEY, t);
  }, []);

  const signOut = useCallback(() => {
    api.logout().finally(() => {
      // the next person to sign in starts on the dashboard, not on this one's last page
      navigate('/', { replace: true });
      onSignedOut();
    });
  }, [onSignedOut, navigate]);

  const handlers = useMemo(
    () => ({
      focusSearch: () => {
        const el = document.querySelector('[data-search]');
        if (el) focusSearch();
        else {
          wantFocus.current = true;
          navigate('/events');
        }
      },
      help: () => setHelp((h) => !h),
      go: (p: string) => navigate(p),
      toggleTheme: () => setTheme(theme === 'dark' ? 'light' : 'dark'),
    }),
    [navigate, setTheme, theme],
  );
  useGlobalShortcuts(handlers);

  // after "/" navigated to Events, focus its query box
  const wantFocus = useRef(false);
  useEffect(() => {
    if (wantFocus.current) {
      wantFocus.current = false;
      setTimeout(focusSearch, 50);
    }
  }, [loc.pathname]);

  const session: Session = { principal, tenants, tenant, setTenant, signOut };
  const isAdmin = atLeast(principal, tenant, 'tenant_administrator');
  const role = roleIn(principal, tenant);
  const name = displayName(principal);

  return (
    <SessionContext.Provider value={session}>
      <PivotProvider>
        <div className="shell">
          <nav className="nav" aria-label="Main">
            <div className="brand">
              <Logo />
              <span>Vigil</span>
            </div>
            <ul>
              {NAV.filter(([to]) => to !== '/admin' || isAdmin).map(([to, label, icon]) => (
                <li key={to}>
                  <NavLink to={to} end={to === '/'}>
                    <Icon name={icon} />
                    {label}
                  </NavLink>
                </li>
              ))}
            </ul>
            <div className="foot">{version && `Vigil ${version}`}</div>
          </nav>
          <header className="topbar">
            <label className="row" style={{ gap: 6 }}>
              <span className="muted" style={{ fontSize: 13 }}>
                Tenant
              </span>
              <select value={tenant} onChange={(e) => setTenant(e.target.value)} aria-label="Tenant" data-testid="tenant">
                {tenants.map((t) => (
                  <option key={t.id} value={t.id}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
            <span className="spacer" />
            <button className="ghost" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)">
              <Icon name="keyboard" />
            </button>
            <button
              className="ghost"
              onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
              aria-label={theme === 'dark' ? 'Switch to the light theme' : 'Switch to the dark theme'}
              title="Switch theme (t)"
              data-testid="theme-toggle"
            >
              <Icon name={theme === 'dark' ? 'sun' : 'moon'} />
            </button>
            <div className="usermenu">
              <button className="ghost" onClick={() => setMenu(!menu)} aria-expanded={menu} aria-haspopup="menu" data-testid="user-menu">
                <span className="avatar" aria-hidden="true">
                  {name.slice(0, 1).toUpperCase()}
                </span>
                {name}
              </button>
              {menu && (
                <div className="menu" role="menu" onMouseLeave={() => setMenu(false)}>
                  <div className="menu-title">
                    {principal.kind === 'user' ? 'User' : 'API token'} · {role?.replace('_', ' ') ?? 'no role'} in {tenant}
                  </div>
                  <button role="menuitem" onClick={() => { setMenu(false); setHelp(true); }}>
                    Keyboard shortcuts
                  </button>
                  {principal.kind === 'user' && (
                    <button role="menuitem" onClick={() => { setMenu(false); setTotp(true); }}>
                      Two-factor authentication…
                    </button>
                  )}
                  <button role="menuitem" onClick={signOut}>
                    <Icon name="logout" /> Sign out
                  </button>
                </div>
              )}
            </div>
          </header>
          <main className="main" id="main">
            <Suspense fallback={<div className="page muted">Loading…</div>}>
            <Routes>
              <Route path="/" element={<DashboardPage />} />
              <Route path="/events" element={<EventsPage />} />
              <Route path="/alerts" element={<AlertsPage />} />
              <Route path="/alerts/:id" element={<AlertDetailPage />} />
              <Route path="/incidents" element={<IncidentsPage />} />
              <Route path="/incidents/:id" element={<IncidentDetailPage />} />
              <Route path="/rules" element={<RulesPage />} />
              <Route path="/sources/*" element={<SourcesPage />} />
              <Route path="/admin/*" element={isAdmin ? <AdminPage /> : <NoAccess />} />
              <Route path="*" element={<NotFound />} />
            </Routes>
            </Suspense>
          </main>
        </div>
        {totp && principal.kind === 'user' && <TotpDialog userId={principal.id} onClose={() => setTotp(false)} />}
        {help && (
          <Dialog title="Keyboard shortcuts" onClose={() => setHelp(false)}>
            <table className="kv">
              <tbody>
                {SHORTCUTS.map(([k, d]) => (
                  <tr key={k}>
                    <th scope="row" style={{ width: 120 }}>
                      {k.split(' ').map((p, i) => (
                        <span key={i}>
                          {i > 0 && ' then '}
                          <kbd>{p}</kbd>
                        </span>
                      ))}
                    </th>
                    <td>{d}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Dialog>
        )}
      </PivotProvider>
    </SessionContext.Provider>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Page not found</h1>
      <p className="muted">
        There is no page at this address. <NavLink to="/">Go to the dashboard</NavLink>.
      </p>
    </div>
  );
}

function NoAccess() {
  return (
    <div className="page">
      <h1>Administration</h1>
      <p className="muted">Your role in this tenant does not include administration.</p>
    </div>
  );
}
