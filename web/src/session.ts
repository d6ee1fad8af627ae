// Who is logged in, what they may do, and the toasts: shared by every page.
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';

export type Role = 'admin' | 'operator' | 'viewer';

export interface Session {
  username: string;
  role: Role;
  /** admin or operator: may change servers, gateways, routes. */
  canWrite: boolean;
  isAdmin: boolean;
  logout: () => void;
  toast: (message: string, kind?: 'ok' | 'error') => void;
}

export const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside the logged-in console');
  return s;
}
