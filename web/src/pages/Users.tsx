// Users and roles (admins): create, change role or password, delete; everyone: their own password.
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, ApiError, type Answer } from '../api';
import { Dialog, Empty, ErrorNote, Field, fieldErrors, TextInput, useConfirm } from '../components/ui';
import { time } from '../lib/format';
import { usePoll } from '../lib/hooks';
import { useSession, type Role } from '../session';

type User = Answer<'/api/v1/users'>[number];
const ROLES: Role[] = ['admin', 'operator', 'viewer'];

export function Users(): JSX.Element {
  const { isAdmin, username, toast } = useSession();
  const list = usePoll((signal) => (isAdmin ? api.get('/api/v1/users', { signal }) : Promise.resolve([] as User[])), 0, [isAdmin]);
  const [editing, setEditing] = useState<User | 'new' | null>(null);
  const [confirmEl, ask] = useConfirm();
  if (!isAdmin) {
    return (
      <section aria-labelledby="users-title">
        <h1 id="users-title">Users</h1>
        <Empty>Only admins manage users.</Empty>
        <h2>Your password</h2>
        <OwnPasswordForm onDone={(note) => toast(note)} />
      </section>
    );
  }
  const setRole = async (u: User, role: Role): Promise<void> => {
    try {
      await api.patch('/api/v1/users/{id}', { params: { id: u.id }, body: { role } });
      toast(`${u.username} is now ${role}`);
    } catch (e) {
      toast(`${u.username}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  const remove = async (u: User): Promise<void> => {
    if (!(await ask(`Delete user "${u.username}"?`, 'Delete'))) return;
    try {
      await api.delete('/api/v1/users/{id}', { params: { id: u.id } });
      toast(`${u.username} deleted`);
    } catch (e) {
      toast(`delete ${u.username}: ${(e as Error).message}`, 'error');
    } finally {
      list.reload();
    }
  };
  return (
    <section aria-labelledby="users-title">
      <header class="page-head">
        <h1 id="users-title">Users</h1>
        <button type="button" class="btn btn-primary" onClick={() => setEditing('new')}>New user</button>
      </header>
      <ErrorNote error={list.error} prefix="Users could not be loaded" />
      <div class="table-wrap">
        <table class="table">
          <thead><tr><th scope="col">User</th><th scope="col">Role</th><th scope="col">Created</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            {(list.data ?? []).map((u) => (
              <tr key={u.id} data-user={u.username}>
                <td>{u.username}{u.username === username && <small class="muted"> (you)</small>}</td>
                <td>
                  <select aria-label={`Role of ${u.username}`} value={u.role} onChange={(e) => void setRole(u, (e.currentTarget as HTMLSelectElement).value as Role)}>
                    {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                  </select>
                </td>
                <td>{time(u.created_at)}</td>
                <td>
                  <div class="btns">
                    <button type="button" class="btn btn-small" onClick={() => setEditing(u)}>Set password</button>
                    <button type="button" class="btn btn-small btn-danger" onClick={() => void remove(u)}>Delete</button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Dialog open={editing !== null} title={editing === 'new' ? 'New user' : `Password of ${editing ? editing.username : ''}`} onClose={() => setEditing(null)}>
        {editing !== null && <UserForm user={editing === 'new' ? null : editing} onDone={(note) => { setEditing(null); toast(note); list.reload(); }} />}
      </Dialog>
      {confirmEl}
    </section>
  );
}

function UserForm({ user, onDone }: { user: User | null; onDone: (note: string) => void }): JSX.Element {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('operator');
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrs({});
    setOther([]);
    try {
      if (user) {
        await api.patch('/api/v1/users/{id}', { params: { id: user.id }, body: { password } });
        onDone(`password of ${user.username} changed`);
      } else {
        const u = await api.post('/api/v1/users', { body: { username: name, password, role } });
        onDone(`${u.username} created (${u.role})`);
      }
    } catch (err) {
      if (err instanceof ApiError && (err.status === 400 || err.status === 409)) {
        if (err.status === 409) setErrs({ username: err.message });
        else {
          const fe = fieldErrors(err, ['username', 'password', 'role']);
          setErrs(fe.fields);
          setOther(fe.other);
        }
      } else setOther([(err as Error).message]);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate>
      {!user && <TextInput label="Username" name="username" value={name} onValue={setName} error={errs['username']} autoComplete="off" hint="letters, digits, . _ @ -" />}
      <TextInput label="Password" name="password" type="password" value={password} onValue={setPassword} error={errs['password']} autoComplete="new-password" hint="at least 8 characters" />
      {!user && (
        <Field label="Role" error={errs['role']}>
          {(id) => (
            <select id={id} value={role} onChange={(e) => setRole((e.currentTarget as HTMLSelectElement).value as Role)}>
              {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
            </select>
          )}
        </Field>
      )}
      {other.length > 0 && <ul class="note note-error" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul>}
      <div class="actions"><button type="submit" class="btn btn-primary">{user ? 'Set password' : 'Create user'}</button></div>
    </form>
  );
}

/** Any role: change the password of the logged-in user (asks for the current one). */
function OwnPasswordForm({ onDone }: { onDone: (note: string) => void }): JSX.Element {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [errs, setErrs] = useState<Record<string, string>>({});
  const [other, setOther] = useState<string[]>([]);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setErrs({});
    setOther([]);
    try {
      await api.post('/api/v1/auth/password', { body: { current_password: current, new_password: next } });
      setCurrent('');
      setNext('');
      onDone('your password was changed');
    } catch (err) {
      if (err instanceof ApiError && err.status === 400) {
        const fe = fieldErrors(err, ['current_password', 'new_password']);
        setErrs(fe.fields);
        setOther(fe.other);
      } else setOther([(err as Error).message]);
    }
  };
  return (
    <form class="form" onSubmit={(e) => void submit(e)} noValidate>
      <TextInput label="Current password" name="current_password" type="password" value={current} onValue={setCurrent} error={errs['current_password']} autoComplete="current-password" />
      <TextInput label="New password" name="new_password" type="password" value={next} onValue={setNext} error={errs['new_password']} autoComplete="new-password" hint="at least 8 characters" />
      {other.length > 0 && <ul class="note note-error" role="alert">{other.map((o) => <li key={o}>{o}</li>)}</ul>}
      <div class="actions"><button type="submit" class="btn btn-primary">Change password</button></div>
    </form>
  );
}
