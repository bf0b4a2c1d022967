// The caller's second factor: enrol an authenticator app (TOTP) or remove it. The secret is
// shown once, for manual entry (and as the otpauth:// URI apps accept); nothing is stored
// until a code from the app confirms it.
import { useState } from 'react';
import { api } from '../api/client';
import { Dialog, ErrorNotice } from './Common';

export function TotpDialog({ userId, onClose }: { userId: string; onClose: () => void }) {
  const [enrol, setEnrol] = useState<{ secret: string; uri: string } | null>(null);
  const [code, setCode] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = async (f: () => Promise<void>) => {
    setError(null);
    try {
      await f();
    } catch (e) {
      setError(e);
    }
  };
  return (
    <Dialog title="Two-factor authentication" onClose={onClose} actions={<button onClick={onClose}>Close</button>}>
      <ErrorNotice error={error} what="Two-factor authentication" />
      {done ? (
        <p role="status">{done}</p>
      ) : enrol ? (
        <>
          <p style={{ margin: 0 }}>Add this key to your authenticator app (time-based, 6 digits), then enter the code it shows.</p>
          <div className="secret" data-testid="totp-secret">
            {enrol.secret.replace(/(.{4})/g, '$1 ').trim()}
          </div>
          <details>
            <summary className="muted">otpauth:// link</summary>
            <div className="secret" style={{ marginTop: 6 }}>
              {enrol.uri}
            </div>
          </details>
          <form
            className="row"
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                await api.confirmTotp(enrol.secret, code);
                setDone('The second factor is on: every sign-in now asks for a code from the app.');
              });
            }}
          >
            <label className="field" style={{ flex: 1 }}>
              Code from the app
              <input inputMode="numeric" autoComplete="one-time-code" value={code} onChange={(e) => setCode(e.target.value.trim())} required />
            </label>
            <button className="primary" type="submit" style={{ alignSelf: 'flex-end' }}>
              Confirm
            </button>
          </form>
        </>
      ) : (
        <>
          <p style={{ margin: 0 }}>
            A second factor makes every sign-in ask for a code from an authenticator app as well as the password.
          </p>
          <div className="row">
            <button className="primary" onClick={() => void run(async () => setEnrol(await api.beginTotp()))}>
              Set up an authenticator app
            </button>
            <button
              className="danger"
              onClick={() =>
                void run(async () => {
                  await api.disableTotp(userId);
                  setDone('The second factor is off: sign-ins ask for the password only.');
                })
              }
            >
              Remove the second factor
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}
