// The login form: POST /api/v1/auth/login gives the JWT the rest of the console uses.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError } from '../api';
import { TextInput } from '../components/ui';

export function Login({ onLogin }: { onLogin: (token: string, role: string, expiresAt: string) => void }): JSX.Element {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      const r = await api.post('/api/v1/auth/login', { body: { username, password } });
      onLogin(r.token, r.role, r.expires_at);
    } catch (err) {
      setError(err instanceof ApiError && err.status === 400 ? 'Enter a username and a password.' : (err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login" id="main">
      <form class="card login-card" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="login-title">
        <h1 id="login-title"><span class="logo" aria-hidden="true">≋</span> Sluice</h1>
        <p class="muted">SRT server and gateway console</p>
        <TextInput label="Username" name="username" value={username} onValue={setUsername} autoComplete="username" />
        <TextInput label="Password" name="password" type="password" value={password} onValue={setPassword} autoComplete="current-password" />
        {error && <p class="note note-error" role="alert">{error}</p>}
        <button type="submit" class="btn btn-primary" disabled={busy}>{busy ? 'Logging in…' : 'Log in'}</button>
      </form>
    </main>
  );
}
