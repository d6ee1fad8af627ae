// A real PostgreSQL for the store tests: initdb into a temporary directory, run `postgres` on a
// free loopback port, create one database per test. Fails (does not skip) when PostgreSQL is not
// installed: apt-get install -y postgresql.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import pg from 'pg';
import { sleep } from './peers.js';

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a)) : [];
  if (versions.length === 0) throw new Error('PostgreSQL is not installed: the store tests need it (apt-get install -y postgresql)');
  return join(base, versions[0]!, 'bin');
}

async function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export interface Postgres {
  /** A fresh, empty database; its URL. */
  createDatabase(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts a private PostgreSQL cluster (as user `postgres` when run by root: it refuses root). */
export async function startPostgres(): Promise<Postgres> {
  const bin = binDir();
  const dir = mkdtempSync('/tmp/sluice-pg-');
  const asRoot = userInfo().uid === 0;
  const user = asRoot ? 'postgres' : userInfo().username;
  // run as the postgres user directly (not through runuser/su, so that signals reach postgres itself)
  let ids: { uid?: number; gid?: number } = {};
  if (asRoot) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    if (pw.status !== 0) throw new Error('running as root but there is no "postgres" user (apt-get install -y postgresql creates it)');
    ids = { uid: Number(pw.stdout.trim()), gid: Number(gid.stdout.trim()) };
    chownSync(dir, ids.uid!, ids.gid!);
  }
  const data = join(dir, 'data');
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '-E', 'UTF8', '--no-sync'], { encoding: 'utf8', cwd: dir, ...ids });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
  const port = await freeTcpPort();
  const proc: ChildProcess = spawn(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off'], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, ...ids });
  let log = '';
  proc.stderr?.on('data', (d: Buffer) => { if (log.length < 20_000) log += d.toString(); });
  const killOnExit = (): void => { proc.kill('SIGKILL'); };
  process.on('exit', killOnExit);
  const admin = `postgres://${user}@127.0.0.1:${port}/postgres`;
  const end = Date.now() + 20_000;
  for (;;) {
    const c = new pg.Client({ connectionString: admin });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (proc.exitCode !== null || Date.now() > end) {
        proc.kill('SIGKILL');
        throw new Error(`postgres did not start: ${(e as Error).message}\n${log}`);
      }
      await sleep(100);
    }
  }
  let n = 0;
  return {
    async createDatabase(): Promise<string> {
      const name = `sluice_test_${process.pid}_${++n}`;
      const c = new pg.Client({ connectionString: admin });
      await c.connect();
      await c.query(`CREATE DATABASE ${name}`);
      await c.end();
      return `postgres://${user}@127.0.0.1:${port}/${name}`;
    },
    async stop(): Promise<void> {
      process.off('exit', killOnExit);
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        // smart shutdown: waits for sessions to end instead of terminating them. A pool's end()
        // resolves once its clients have *sent* Terminate, so a fast shutdown right after it can
        // still hit one with "terminating connection due to administrator command" — an 'error'
        // on a client nobody listens to any more, i.e. an uncaught exception in the test process.
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
