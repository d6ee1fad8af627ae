// `sluice serve`: the control plane — embedded SQLite, REST API with JWT, SRT servers from the store.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { buildApp } from '../api/app.js';
import { hashPassword } from '../core/passwords.js';
import { ControlPlane } from '../core/control-plane.js';
import { NodeManager } from '../core/nodes.js';
import { hostname } from 'node:os';
import { openStore, secureDataDir } from '../store/db.js';
import { logUnhandledRejections } from './process-guard.js';
import { resolveServeConfig, serveOptionsHelp, type ServeConfig } from './config.js';

export const SERVE_HELP = `Usage: sluice serve [options]

Runs Sluice: the REST API (/api/v1, OpenAPI at /openapi.json, Swagger UI at /docs) and the SRT
servers stored in the database. A fresh data directory gets an "admin" user and an SRT server
named "default" on the SRT port, whose players may connect before their stream's publisher (they
wait for it: settings.waitForPublisher).

Each option comes from the command line, else its SLUICE_* variable, else the JSON config file
(--config FILE or SLUICE_CONFIG; keys in camelCase, e.g. {"httpAddr": "127.0.0.1:8080"}), else its default.

Options:                  Environment
  --config FILE           SLUICE_CONFIG           JSON file with any of the options below
${serveOptionsHelp()}
  -h, --help
`;

export type ServeOptions = ServeConfig;

/** Kept for callers of the first version: the resolved options, or 'help'. */
export function parseServeArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): ServeOptions | 'help' {
  return resolveServeConfig(argv, env);
}

export async function runServe(argv: string[]): Promise<number> {
  const p = parseServeArgs(argv); // a ConfigError (a UsageError) goes to main.ts (exit 2)
  if (p === 'help') {
    process.stdout.write(SERVE_HELP);
    return 0;
  }
  const o: ServeOptions = p;
  // everything Sluice creates (database, WAL, recordings) is its user's alone: the database holds
  // the JWT secret, password hashes and SRT passphrases; what an older version left open is closed
  process.umask(0o077);
  logUnhandledRejections();
  let store;
  try {
    secureDataDir(o.dataDir);
    store = await openStore(o.database ?? join(o.dataDir, 'sluice.db'));
  } catch (e) {
    process.stderr.write(`sluice serve: ${(e as Error).message}\n`);
    return 1;
  }
  const db = store.db;
  const node = o.nodeName === null ? undefined : new NodeManager(db, {
    name: o.nodeName, address: o.advertiseAddr ?? o.srtHost ?? hostname(), srtHost: o.srtHost ?? undefined,
    httpUrl: `http://${o.httpHost === '0.0.0.0' ? (o.advertiseAddr ?? hostname()) : o.httpHost}:${o.httpPort}`,
  });
  const cp = new ControlPlane(db, { dataDir: o.dataDir, node });
  // nodes starting together on one new database: the first insert wins, the others read it
  await db.insertInto('meta').values({ key: 'jwt_secret', value: randomBytes(32).toString('base64url') }).onConflict((oc) => oc.column('key').doNothing()).execute();
  const secret = (await db.selectFrom('meta').select('value').where('key', '=', 'jwt_secret').executeTakeFirstOrThrow()).value;
  const users = await db.selectFrom('users').select('id').execute();
  if (users.length === 0) {
    const given = o.adminPassword;
    const password = given ?? randomBytes(12).toString('base64url');
    const r = await db.insertInto('users').values({ username: 'admin', password_hash: await hashPassword(password), role: 'admin', created_at: new Date().toISOString() })
      .onConflict((oc) => oc.column('username').doNothing()).executeTakeFirst();
    if (!given && Number(r.numInsertedOrUpdatedRows ?? 1n) > 0) process.stdout.write(`created user "admin" with password: ${password}\n(shown once; set SLUICE_ADMIN_PASSWORD to choose it)\n`);
  }
  try {
    await cp.start();
  } catch (e) {
    process.stderr.write(`sluice serve: ${(e as Error).message}\n`);
    await cp.close().catch(() => undefined);
    await db.destroy();
    return 1;
  }
  if (node) process.stdout.write(`node "${node.name}" joined the cluster (SRT at ${node.address})\n`);
  const { servers, gateways } = cp;
  if ((await db.selectFrom('servers').select('id').execute()).length === 0) {
    // players of a stream not published yet wait for it (decoders are often started before the encoder)
    await servers.create({ server_name: 'default', server_port: o.srtPort, settings: { waitForPublisher: true } }).catch((e: Error) => {
      // another node starting at the same time created it
      if (!node) throw e;
    });
  }
  for (const s of await servers.list()) {
    process.stdout.write(`SRT server "${s.server_name}" on UDP ${s.server_port}: ${s.status}${s.error ? ` (${s.error})` : ''}\n`);
  }
  for (const g of await gateways.list()) {
    process.stdout.write(`${g.kind.toUpperCase()} gateway "${g.name}": ${g.status}${g.error ? ` (${g.error})` : ''}\n`);
  }
  const metricsToken = o.metricsToken ?? undefined;
  const app = await buildApp({ ...cp, metricsToken, jwtSecret: secret, tokenTtl: o.tokenTtl, logger: o.logLevel === 'silent' ? false : { level: o.logLevel } });
  try {
    await app.listen({ host: o.httpHost, port: o.httpPort });
  } catch (e) {
    process.stderr.write(`sluice serve: cannot listen on ${o.httpHost}:${o.httpPort}: ${(e as Error).message}\n`);
    await cp.close();
    await db.destroy();
    return 1;
  }
  const addr = app.server.address();
  process.stdout.write(`REST API on http://${o.httpHost}:${typeof addr === 'object' && addr ? addr.port : o.httpPort} (docs at /docs)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await app.close();
  await cp.close(); // tasks finish, recordings' last files are stored, SHUTDOWN to every SRT peer
  await db.destroy();
  return 0;
}
