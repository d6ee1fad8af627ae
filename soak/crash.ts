// Crash safety (issue 16 §3): `sluice serve` gets 50 concurrent API writes (server creations with
// settings, user creations, server updates), is killed with SIGKILL at a random moment, and is
// restarted: every write answered 2xx must be there exactly as answered, nothing half-written
// (a server row's fields and settings all from one write, no task left queued or running, the
// SQLite file intact). Looped SOAK_CRASH_LOOPS times (default 20) on the same data directory, so
// every loop also re-checks everything acknowledged before.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { DatabaseSync } from 'node:sqlite';
import { basePort, envNum, here, login, sleep, startServe, stop, verdict, type PartResult, type Serve } from './util.js';

interface ServerWant { name: string; port: number; latency: number; settings: Record<string, unknown> }

/** What one write sets on a server (the fields checked after the restart). */
type ServerTuple = { server_port: number; server_latency: number; settings: unknown };

export async function crashPart(): Promise<PartResult> {
  const LOOPS = envNum('SOAK_CRASH_LOOPS', 20);
  const WRITES = envNum('SOAK_CRASH_WRITES', 50);
  /** The kill comes 0..this many ms after the writes are fired. */
  const KILL_WITHIN_MS = envNum('SOAK_CRASH_KILL_WITHIN_MS', 2000);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-soak-crash-'));
  const base = basePort();
  const [httpPort, srtPort] = [base, base + 1];
  let serverPort = base + 2; // ports for created servers (created inactive: nothing binds them)
  const problems: string[] = [];
  const acked = { servers: new Map<string, ServerTuple>(), users: new Map<string, string>() };
  /** Servers whose state after a restart may be any one of these tuples (an update was in flight). */
  const allowed = new Map<string, ServerTuple[]>();
  let answered2xx = 0, failedByKill = 0, other = 0, checks = 0;
  const killedAfter: number[] = [];
  let serve: Serve | null = null;
  const t0 = performance.now();
  try {
    serve = await startServe(dir, httpPort, srtPort);
    let headers = await login(serve.api);
    for (let loop = 0; loop < LOOPS; loop++) {
      // 50 concurrent writes
      const writes: Promise<void>[] = [];
      const names = [...acked.servers.keys()];
      for (let w = 0; w < WRITES; w++) {
        const kind = w % 5 === 4 && names.length ? 'update' : w % 2 === 0 ? 'server' : 'user';
        if (kind === 'server') {
          const want: ServerWant = { name: `soak-${loop}-${w}`, port: serverPort++, latency: 120 + w, settings: { maxConnections: 100 + w, publisherGraceMs: loop * 1000 + w, whitelist: [`live/s${loop}-${w}`, `live/t${w}`] } };
          const tuple = { server_port: want.port, server_latency: want.latency, settings: want.settings };
          allowed.set(want.name, [tuple]); // if it exists at all, it must be exactly this
          writes.push(fetch(`${serve.api}/api/v1/servers`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ server_name: want.name, server_port: want.port, server_latency: want.latency, server_active: false, settings: want.settings }) })
            .then(async (r) => {
              if (r.status === 201) { answered2xx++; acked.servers.set(want.name, tuple); } else { other++; problems.push(`create ${want.name}: HTTP ${r.status} ${await r.text()}`); }
            }, () => { failedByKill++; }));
        } else if (kind === 'user') {
          const username = `soak-user-${loop}-${w}`;
          const role = (['admin', 'operator', 'viewer'] as const)[w % 3]!;
          writes.push(fetch(`${serve.api}/api/v1/users`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ username, password: `password-${loop}-${w}`, role }) })
            .then(async (r) => {
              if (r.status === 201) { answered2xx++; acked.users.set(username, role); } else { other++; problems.push(`create user ${username}: HTTP ${r.status} ${await r.text()}`); }
            }, () => { failedByKill++; }));
        } else {
          const name = names[(loop * WRITES + w) % names.length]!;
          const cur = acked.servers.get(name)!;
          const next: ServerTuple = { server_port: cur.server_port, server_latency: cur.server_latency + 1000, settings: { ...(cur.settings as object), maxConnections: 5000 + loop * 100 + w } };
          allowed.set(name, [...(allowed.get(name) ?? [cur]), next]);
          writes.push(getId(serve.api, headers, name).then((id) => fetch(`${serve!.api}/api/v1/servers/${id}`, { method: 'PATCH', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ server_latency: next.server_latency, settings: next.settings }) }))
            .then(async (r) => {
              if (r.status === 200) { answered2xx++; acked.servers.set(name, next); } else { other++; problems.push(`update ${name}: HTTP ${r.status} ${await r.text()}`); }
            }, () => { failedByKill++; }));
        }
      }
      const wait = Math.floor(Math.random() * KILL_WITHIN_MS);
      killedAfter.push(wait);
      await sleep(wait);
      serve.proc.kill('SIGKILL');
      await new Promise((r) => serve!.proc.once('exit', r));
      await Promise.all(writes);
      // the SQLite file as the kill left it (read-only: the recovery is sluice's job)
      try {
        const db = new DatabaseSync(join(dir, 'sluice.db'), { readOnly: true });
        const ic = (db.prepare('PRAGMA integrity_check').get() as { integrity_check: string } | undefined)?.integrity_check;
        db.close();
        if (ic !== 'ok') problems.push(`loop ${loop}: integrity_check after the kill: ${String(ic)}`);
      } catch (e) {
        problems.push(`loop ${loop}: cannot open the database after the kill: ${(e as Error).message}`);
      }
      serve = await startServe(dir, httpPort, srtPort);
      headers = await login(serve.api);
      problems.push(...await checkState(serve.api, headers, acked, allowed).then((p) => p.map((x) => `loop ${loop}: ${x}`)));
      checks++;
      // from now on, every server that exists is acknowledged or settled on what the restart shows
      const servers = await list(serve.api, headers);
      for (const [name, tuples] of allowed) {
        const s = servers.get(name);
        if (!s) { allowed.delete(name); continue; }
        const shown = { server_port: s.server_port, server_latency: s.server_latency, settings: s.settings };
        if (!acked.servers.has(name) || !isDeepStrictEqual(acked.servers.get(name), shown)) acked.servers.set(name, tuples.find((t) => isDeepStrictEqual(t, shown)) ?? shown);
        allowed.set(name, [acked.servers.get(name)!]);
      }
      const users = await (await fetch(`${serve.api}/api/v1/users`, { headers })).json() as { username: string; role: string }[];
      for (const u of users) if (!acked.users.has(u.username) && u.username !== 'admin') acked.users.set(u.username, u.role);
      process.stderr.write(`crash loop ${loop + 1}/${LOOPS}: killed after ${wait} ms, ${acked.servers.size} servers and ${acked.users.size} users on record, problems so far ${problems.length}\n`);
    }
  } finally {
    if (serve) await stop(serve.proc);
    rmSync(dir, { recursive: true, force: true });
  }
  const secs = (performance.now() - t0) / 1000;
  return verdict('crash', problems.length === 0 && checks === LOOPS, [
    `${LOOPS} loops of ${WRITES} concurrent writes (server creations with settings, user creations, server updates), SIGKILL 0-${KILL_WITHIN_MS} ms after they were fired (median ${killedAfter.sort((a, b) => a - b)[killedAfter.length >> 1] ?? 0} ms), restart, check; ${secs.toFixed(0)} s`,
    `writes answered 2xx: ${answered2xx}, cut off by the kill: ${failedByKill}, answered otherwise: ${other}`,
    `after each restart: every write answered 2xx present exactly as answered (${acked.servers.size} servers, ${acked.users.size} users at the end), no server with fields from two writes, no task left queued/running, logins of acknowledged users work, integrity_check ok: ${problems.length === 0 ? 'yes' : `NO — ${problems.length} problem(s)`}`,
    ...problems.slice(0, 15).map((p) => `problem: ${p}`),
  ]);
}

interface ServerRow { id: number; server_name: string; server_port: number; server_latency: number; settings: unknown }

async function list(api: string, headers: Record<string, string>): Promise<Map<string, ServerRow>> {
  const r = await fetch(`${api}/api/v1/servers`, { headers });
  return new Map(((await r.json()) as ServerRow[]).map((s) => [s.server_name, s]));
}

async function getId(api: string, headers: Record<string, string>, name: string): Promise<number> {
  const s = (await list(api, headers)).get(name);
  if (!s) throw new Error(`server ${name} not found`);
  return s.id;
}

async function checkState(api: string, headers: Record<string, string>, acked: { servers: Map<string, ServerTuple>; users: Map<string, string> }, allowed: Map<string, ServerTuple[]>): Promise<string[]> {
  const problems: string[] = [];
  const servers = await list(api, headers);
  for (const [name, want] of acked.servers) {
    const s = servers.get(name);
    if (!s) { problems.push(`server ${name} answered 2xx is missing`); continue; }
    const shown = { server_port: s.server_port, server_latency: s.server_latency, settings: s.settings };
    const ok = (allowed.get(name) ?? [want]).some((t) => isDeepStrictEqual(t, shown));
    if (!ok) problems.push(`server ${name} is ${JSON.stringify(shown)}, not what a write set (answered: ${JSON.stringify(want)})`);
  }
  for (const [name, s] of servers) {
    if (!name.startsWith('soak-')) continue;
    const tuples = allowed.get(name);
    const shown = { server_port: s.server_port, server_latency: s.server_latency, settings: s.settings };
    if (!tuples) problems.push(`server ${name} exists but no write in flight could have made it`);
    else if (!tuples.some((t) => isDeepStrictEqual(t, shown))) problems.push(`server ${name} is half-written: ${JSON.stringify(shown)}`);
  }
  const users = new Map(((await (await fetch(`${api}/api/v1/users`, { headers })).json()) as { username: string; role: string }[]).map((u) => [u.username, u.role]));
  for (const [u, role] of acked.users) {
    if (users.get(u) !== role) problems.push(`user ${u} answered 2xx is ${users.has(u) ? `role ${users.get(u)}` : 'missing'}`);
  }
  // a sample of acknowledged users can log in (the password hash was stored whole)
  const sample = [...acked.users.keys()].slice(-3);
  for (const u of sample) {
    const [, loop, w] = /^soak-user-(\d+)-(\d+)$/.exec(u) ?? [];
    if (loop === undefined) continue;
    const r = await fetch(`${api}/api/v1/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: `password-${loop}-${w}` }) });
    if (r.status !== 200) problems.push(`user ${u} cannot log in after the restart: HTTP ${r.status}`);
  }
  const tasks = (await (await fetch(`${api}/api/v1/tasks?limit=500`, { headers })).json()) as { items: { id: number; kind: string; status: string; result: unknown; error: unknown }[] };
  for (const t of tasks.items ?? []) {
    if (t.status === 'queued' || t.status === 'running') problems.push(`task ${t.id} (${t.kind}) is still ${t.status} after the restart`);
    if (t.status === 'done' && t.kind === 'server.create' && t.result === null) problems.push(`task ${t.id} (${t.kind}) done without its result`);
    if (t.status === 'failed' && (t.error === null || t.error === undefined)) problems.push(`task ${t.id} (${t.kind}) failed without its error`);
  }
  return problems;
}

if (process.argv[1] === here('./crash.js')) {
  crashPart().then((r) => { process.stdout.write(`${r.lines.join('\n')}\n`); process.exit(r.pass ? 0 : 1); }, (e: unknown) => { process.stderr.write(`${(e as Error).stack}\n`); process.exit(1); });
}
