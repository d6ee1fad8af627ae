// The console's shell: login, the session, navigation, toasts, and the page for the route.
import type { JSX } from 'preact';
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, setToken, setUnauthorizedHandler } from './api';
import { useRoute } from './lib/router';
import { SessionContext, type Role, type Session } from './session';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { Servers } from './pages/Servers';
import { ServerDetail } from './pages/ServerDetail';
import { Gateways } from './pages/Gateways';
import { Nodes } from './pages/Nodes';
import { RoutesPage } from './pages/Routes';
import { Tasks } from './pages/Tasks';
import { Events } from './pages/Events';
import { Users } from './pages/Users';

const STORE = 'sluice.session';

interface Stored { token: string; expiresAt: string }
interface Toast { id: number; message: string; kind: 'ok' | 'error' }

function loadStored(): Stored | null {
  try {
    const s = JSON.parse(localStorage.getItem(STORE) ?? 'null') as Stored | null;
    return s && Date.parse(s.expiresAt) > Date.now() + 5000 ? s : null;
  } catch {
    return null;
  }
}

const NAV: { path: string; label: string; admin?: boolean }[] = [
  { path: '', label: 'Overview' },
  { path: 'servers', label: 'Servers' },
  { path: 'gateways', label: 'Gateways' },
  { path: 'routes', label: 'Routes & recordings' },
  { path: 'tasks', label: 'Tasks' },
  { path: 'events', label: 'Events' },
  { path: 'nodes', label: 'Nodes' },
  { path: 'users', label: 'Users', admin: true },
];

export function App(): JSX.Element {
  const [stored, setStored] = useState<Stored | null>(loadStored);
  const [me, setMe] = useState<{ username: string; role: Role } | null>(null);
  const [why, setWhy] = useState('');
  const [toasts, setToasts] = useState<Toast[]>([]);

  const logout = useCallback((reason = '') => {
    localStorage.removeItem(STORE);
    setToken(null);
    setStored(null);
    setMe(null);
    setWhy(reason);
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => logout('Your session ended: log in again.'));
    return () => setUnauthorizedHandler(null);
  }, [logout]);

  useEffect(() => {
    if (!stored) return;
    setToken(stored.token);
    let live = true;
    api.get('/api/v1/auth/me').then((m) => { if (live) setMe({ username: m.username, role: m.role as Role }); }).catch(() => { if (live) logout(); });
    // log out when the token expires
    const t = setTimeout(() => logout('Your session expired: log in again.'), Math.min(2 ** 31 - 1, Date.parse(stored.expiresAt) - Date.now()));
    return () => { live = false; clearTimeout(t); };
  }, [stored, logout]);

  const toast = useCallback((message: string, kind: 'ok' | 'error' = 'ok') => {
    const id = Date.now() + Math.random();
    setToasts((x) => [...x.slice(-4), { id, message, kind }]);
    setTimeout(() => setToasts((x) => x.filter((y) => y.id !== id)), kind === 'error' ? 8000 : 4000);
  }, []);

  const session = useMemo<Session | null>(() => (me ? {
    username: me.username, role: me.role, canWrite: me.role !== 'viewer', isAdmin: me.role === 'admin', logout: () => logout(), toast,
  } : null), [me, logout, toast]);

  const toastEl = (
    <div class="toasts" role="status" aria-live="polite">
      {toasts.map((t) => <p key={t.id} class={`toast toast-${t.kind}`}>{t.message}</p>)}
    </div>
  );

  if (!stored) {
    return (
      <>
        {why && <p class="note banner" role="status">{why}</p>}
        <Login onLogin={(token, _role, expiresAt) => {
          const s = { token, expiresAt };
          localStorage.setItem(STORE, JSON.stringify(s));
          setWhy('');
          setStored(s);
        }} />
        {toastEl}
      </>
    );
  }
  if (!session) return <p class="loading" role="status">Loading…</p>;
  return (
    <SessionContext.Provider value={session}>
      <Shell />
      {toastEl}
    </SessionContext.Provider>
  );
}

function Shell(): JSX.Element {
  const route = useRoute();
  const mainRef = useRef<HTMLElement>(null);
  const [menu, setMenu] = useState(false);
  const first = useRef(true);
  const top = route.path[0] ?? '';
  useEffect(() => {
    setMenu(false);
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.focus({ preventScroll: false }); // a new page: reading starts at its content
  }, [route.path.join('/')]);

  return (
    <SessionContext.Consumer>
      {(s) => (
        <div class="shell">
          <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); mainRef.current?.focus(); }}>Skip to content</a>
          <header class="top">
            <button type="button" class="btn btn-icon menu-btn" aria-expanded={menu} aria-controls="nav" aria-label="Menu" onClick={() => setMenu(!menu)}>☰</button>
            <a class="brand" href="#/"><span class="logo" aria-hidden="true">≋</span> Sluice</a>
            <span class="who">{s!.username} <small class="muted">({s!.role})</small></span>
            <button type="button" class="btn btn-small" onClick={s!.logout}>Log out</button>
          </header>
          <div class="layout">
            <nav id="nav" class={`nav${menu ? ' nav-open' : ''}`} aria-label="Main">
              <ul>
                {NAV.filter((n) => !n.admin || s!.isAdmin).map((n) => (
                  <li key={n.path}><a href={`#/${n.path}`} aria-current={top === n.path ? 'page' : undefined}>{n.label}</a></li>
                ))}
              </ul>
            </nav>
            <main id="main" ref={mainRef} tabIndex={-1}>
              <Page path={route.path} />
            </main>
          </div>
        </div>
      )}
    </SessionContext.Consumer>
  );
}

function Page({ path }: { path: string[] }): JSX.Element {
  const [a = '', b] = path;
  switch (a) {
    case '': return <Overview />;
    case 'servers': return b && /^\d+$/.test(b) ? <ServerDetail id={Number(b)} /> : <Servers />;
    case 'gateways': return <Gateways />;
    case 'nodes': return <Nodes />;
    case 'routes': return <RoutesPage />;
    case 'tasks': return <Tasks />;
    case 'events': return <Events />;
    case 'users': return <Users />;
    default: return <section><h1>Not found</h1><p>There is no page “{path.join('/')}”. <a href="#/">Overview</a></p></section>;
  }
}
