// The control plane for API tests: a real SQLite store in a temporary directory, the services
// as `sluice serve` wires them (core/control-plane.ts) and the Fastify app, driven with inject.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildApp } from '../../src/api/app.js';
import type { App } from '../../src/api/common.js';
import type { AppContext } from '../../src/api/context.js';
import { ControlPlane, type ControlPlaneOptions } from '../../src/core/control-plane.js';
import { hashPassword } from '../../src/core/passwords.js';
import { openSqlite } from '../../src/store/db.js';
import { tempDir } from './peers.js';

export interface Harness extends ControlPlane {
  app: App;
  ctx: AppContext;
  /** The data directory (database and recordings). */
  dir: string;
  file: string;
  /** Native login: the token of a user (asserts success). */
  login(username: string, password: string): Promise<string>;
  /** `{ authorization: 'Bearer …' }` of a user. */
  bearer(username: string, password: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

/** Test users created in a fresh store. */
export const ADMIN = { username: 'admin', password: 'admin-pass-1' } as const;
export const VIEWER = { username: 'view', password: 'viewer-pass-1' } as const;

/**
 * Opens (or reopens, given the same `dir`) a store with an admin and a viewer, restores the saved
 * state like `sluice serve` does (history sampling off: tests call `history.sample()`), and builds the app.
 */
export async function apiHarness(o: { dir?: string; routeLimits?: ControlPlaneOptions['routeLimits'] } = {}): Promise<Harness> {
  const dir = o.dir ?? tempDir();
  const file = join(dir, 'sluice.db');
  const db = await openSqlite(file);
  if (!(await db.selectFrom('users').select('id').executeTakeFirst())) {
    await db.insertInto('users').values([
      { username: ADMIN.username, password_hash: await hashPassword(ADMIN.password), role: 'admin', created_at: '' },
      { username: VIEWER.username, password_hash: await hashPassword(VIEWER.password), role: 'viewer', created_at: '' },
    ]).execute();
  }
  const cp = new ControlPlane(db, { dataDir: dir, ...(o.routeLimits ? { routeLimits: o.routeLimits } : {}) });
  await cp.start({ sampleHistory: false });
  const ctx: AppContext = { ...cp, jwtSecret: 'test-secret-test-secret' };
  const app = await buildApp(ctx);
  const login = async (username: string, password: string): Promise<string> => {
    const r = await app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { username, password } });
    assert.equal(r.statusCode, 200, r.body);
    return (r.json() as { token: string }).token;
  };
  return Object.assign(cp, {
    app, ctx, dir, file, login,
    bearer: async (username: string, password: string) => ({ authorization: `Bearer ${await login(username, password)}` }),
    close: async (): Promise<void> => {
      await app.close();
      await ControlPlane.prototype.close.call(cp);
      await db.destroy();
    },
  });
}
