// Sign in with a user name and password (and the TOTP code when the server asks for it), or
// with an API token (servers without accounts, scripts' tokens).
import { useState, type FormEvent } from 'react';
import { api, ApiError } from '../api/client';
import type { Principal } from '../api/types';
import { Logo } from '../components/Icon';

export function LoginPage({ onSignedIn, notice }: { onSignedIn: (p: Principal) => void; notice?: string }) {
  const [mode, setMode] = useState<'password' | 'token'>('password');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [totp, setTotp] = useState('');
  const [needTotp, setNeedTotp] = useState(false);
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [info, setInfo] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setInfo(null);
    try {
      if (mode === 'token') {
        onSignedIn(await api.useToken(token));
      } else {
        const r = await api.login(username, password, needTotp ? totp : undefined);
        onSignedIn(r.principal);
      }
    } catch (err) {
      if (err instanceof ApiError) {
        if (err.code === 'totp_required') {
          setNeedTotp(true);
          setInfo('Enter the 6-digit code from your authenticator app.');
        } else if (err.unavailable && mode === 'password') {
          setMode('token');
          setError('This server has no user accounts (it runs without the metadata store): sign in with its API token.');
        } else if (err.status === 401) {
          setError(mode === 'token' ? 'The token is not valid.' : 'Invalid user name, password or code.');
        } else setError(err.message);
      } else setError(String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <form className="card" onSubmit={submit} aria-label="Sign in">
        <div className="brand">
          <Logo />
          <span>Vigil</span>
        </div>
        <h1 style={{ fontSize: 17 }}>Sign in to the console</h1>
        {notice && <div className="notice">{notice}</div>}
        <div className="tabs" role="tablist" aria-label="Sign-in method">
          <button type="button" role="tab" aria-selected={mode === 'password'} onClick={() => setMode('password')}>
            User account
          </button>
          <button type="button" role="tab" aria-selected={mode === 'token'} onClick={() => setMode('token')}>
            API token
          </button>
        </div>
        {mode === 'password' ? (
          <>
            <label className="field">
              User name
              <input autoComplete="username" value={username} onChange={(e) => setUsername(e.target.value)} required autoFocus />
            </label>
            <label className="field">
              Password
              <input type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} required />
            </label>
            {needTotp && (
              <label className="field">
                Authentication code
                <input
                  inputMode="numeric"
                  autoComplete="one-time-code"
                  pattern="[0-9]{6,8}"
                  value={totp}
                  onChange={(e) => setTotp(e.target.value.trim())}
                  required
                  autoFocus
                />
              </label>
            )}
          </>
        ) : (
          <label className="field">
            API token
            <input
              type="password"
              autoComplete="off"
              value={token}
              onChange={(e) => setToken(e.target.value)}
              required
              placeholder="vgl_… or the token in vigil-data/api-token"
            />
            <span className="muted" style={{ fontWeight: 400, fontSize: 12 }}>
              Kept for this browser tab only.
            </span>
          </label>
        )}
        {info && (
          <div className="notice" role="status">
            {info}
          </div>
        )}
        {error && (
          <div className="notice error" role="alert">
            {error}
          </div>
        )}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

/** A session that must change its password first (the server refuses everything else). The
 * change ends every session of the user, so the page signs in again with the new password
 * (or hands over to the sign-in page when a second factor is needed). */
export function ChangePasswordPage({
  username,
  onSignedIn,
  onSignInAgain,
  onCancel,
}: {
  username: string;
  onSignedIn: (p: Principal) => void;
  onSignInAgain: (notice: string) => void;
  onCancel: () => void;
}) {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [again, setAgain] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (next !== again) {
      setError('The two new passwords differ.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await api.changePassword(current, next);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      setBusy(false);
      return;
    }
    try {
      const r = await api.login(username, next);
      onSignedIn(r.principal);
    } catch {
      onSignInAgain('Your password was changed; sign in with the new one.');
    }
  };
  return (
    <main className="login">
      <form className="card" onSubmit={submit} aria-label="Change password">
        <div className="brand">
          <Logo />
          <span>Vigil</span>
        </div>
        <h1 style={{ fontSize: 17 }}>Choose a new password</h1>
        <p className="muted" style={{ margin: 0 }}>
          Your account must change its password before anything else.
        </p>
        <label className="field">
          Current password
          <input type="password" autoComplete="current-password" value={current} onChange={(e) => setCurrent(e.target.value)} required autoFocus />
        </label>
        <label className="field">
          New password
          <input type="password" autoComplete="new-password" value={next} onChange={(e) => setNext(e.target.value)} required />
        </label>
        <label className="field">
          New password again
          <input type="password" autoComplete="new-password" value={again} onChange={(e) => setAgain(e.target.value)} required />
        </label>
        {error && (
          <div className="notice error" role="alert">
            {error}
          </div>
        )}
        <button className="primary" type="submit" disabled={busy}>
          {busy ? 'Saving…' : 'Change password'}
        </button>
        <button type="button" className="ghost" onClick={onCancel}>
          Sign out
        </button>
      </form>
    </main>
  );
}
