// The server's access rules (src/server/access.ts) without sockets: stream id → admission or the
// SRT rejection code, the auth hook's answer, the whitelist, limits, and the placement against a
// registry view (publisher conflict, backups, players of unpublished streams).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SRT_REJX } from '../../src/protocol/reject.js';
import {
  admitStreamId, applyHookAnswer, checkLimits, checkWhitelist, isRejection, place, publisherConflict,
  type Admission, type Rejection, type RegistryView,
} from '../../src/server/access.js';
import { parseStreamId } from '../../src/server/streamid.js';
import type { ServerConfig } from '../../src/server/types.js';
import { fileTimeout } from '../support/file-timeout.js';

fileTimeout();

const base: ServerConfig = { name: 'srv1', port: 0 };

function admit(streamId: string, c: Partial<ServerConfig> = {}): Admission | Rejection {
  return admitStreamId(parseStreamId(streamId), { ...base, ...c });
}

function admitted(streamId: string, c: Partial<ServerConfig> = {}): Admission {
  const a = admit(streamId, c);
  assert.ok(!isRejection(a), `expected an admission, got ${JSON.stringify(a)}`);
  return a;
}

function refused(x: object | undefined, code: number, message: RegExp): void {
  assert.ok(x !== undefined && isRejection(x), `expected a rejection, got ${JSON.stringify(x)}`);
  assert.equal(x.reject, code, x.message);
  assert.match(x.message, message);
}

interface Entry { publisher?: boolean; backup?: boolean; players?: number }

/** A registry view from plain data: streams, reservations, and connections per address. */
function view(o: { streams?: Record<string, Entry>; reserved?: Record<string, Entry>; total?: number; perAddress?: Record<string, number> } = {}): RegistryView {
  const full = (e: Entry | undefined) => ({ publisher: e?.publisher ?? false, backup: e?.backup ?? false, players: e?.players ?? 0 });
  return {
    total: () => o.total ?? 0,
    fromAddress: (a) => o.perAddress?.[a] ?? 0,
    stream: (n) => (o.streams?.[n] ? full(o.streams[n]) : undefined),
    reserved: (n) => full(o.reserved?.[n]),
  };
}

describe('admitStreamId', () => {
  test('a plain player and publisher, with the server passphrase', () => {
    assert.deepEqual(admitted('live/a', { passphrase: 'server-secret-1' }), { name: 'live/a', mode: 'request', backup: false, passphrase: 'server-secret-1', user: undefined });
    assert.deepEqual(admitted('#!::r=live/a,m=publish,u=bob'), { name: 'live/a', mode: 'publish', backup: false, passphrase: undefined, user: 'bob' });
  });

  test('bidirectional mode is refused with 1405', () => {
    refused(admit('#!::r=live/a,m=bidirectional'), SRT_REJX.BAD_MODE, /bidirectional/);
  });

  test('a foreign server code is 1404; this server by name or code passes', () => {
    refused(admit('receiver/other/live/a'), SRT_REJX.NOTFOUND, /no server "other"/);
    assert.equal(admitted('receiver/srv1/live/a').name, 'live/a');
  });

  test('the application prefix', () => {
    refused(admit('other/a', { app: '/live' }), SRT_REJX.NOTFOUND, /outside the application "live"/);
    assert.equal(admitted('live/a', { app: '/live' }).name, 'live/a');
    assert.equal(admitted('live', { app: 'live' }).name, 'live');
  });

  test('the token: missing 1401, wrong 1401, right passes', () => {
    refused(admit('live/a', { token: 't0k' }), SRT_REJX.UNAUTHORIZED, /token required/);
    refused(admit('live/a?token=nope', { token: 't0k' }), SRT_REJX.UNAUTHORIZED, /wrong token/);
    assert.equal(admitted('live/a?token=t0k', { token: 't0k' }).name, 'live/a');
  });

  test('per-stream passphrases by mode, over the server one', () => {
    const c = { passphrase: 'server-secret-1', streams: { 'live/a': { publishPassphrase: 'publish-secret', readPassphrase: 'read-secret-11' } } };
    assert.equal(admitted('#!::r=live/a,m=publish', c).passphrase, 'publish-secret');
    assert.equal(admitted('live/a', c).passphrase, 'read-secret-11');
    assert.equal(admitted('live/b', c).passphrase, 'server-secret-1');
  });

  test('users: unknown and wrong password 1401, rights 1403, the user passphrase wins', () => {
    const users = { bob: { password: 'pw', publish: false, passphrase: 'bob-secret-123' }, eve: { read: false } };
    refused(admit('#!::r=live/a,u=mallory', { users }), SRT_REJX.UNAUTHORIZED, /unknown user "mallory"/);
    refused(admit('read:live/a:bob:nope', { users }), SRT_REJX.UNAUTHORIZED, /wrong password/);
    refused(admit('#!::r=live/a,m=publish,u=bob', { users }), SRT_REJX.FORBIDDEN, /"bob" may not publish/);
    refused(admit('#!::r=live/a,u=eve', { users }), SRT_REJX.FORBIDDEN, /"eve" may not play/);
    assert.equal(admitted('read:live/a:bob:pw', { users, passphrase: 'server-secret-1' }).passphrase, 'bob-secret-123');
    // without a user list the name is only information
    assert.equal(admitted('#!::r=live/a,u=mallory').user, 'mallory');
  });

  test('backup=1 marks a standby publisher (publishers only)', () => {
    assert.equal(admitted('publish:live/a?backup=1').backup, true);
    assert.equal(admitted('#!::r=live/a,m=publish,backup=yes').backup, true);
    assert.equal(admitted('live/a?backup=1').backup, false);
  });
});

describe('applyHookAnswer and checkWhitelist', () => {
  const a: Admission = { name: 'live/a', mode: 'publish', backup: false, passphrase: 'server-secret-1' };

  test('a denial with or without its own code', () => {
    refused(applyHookAnswer(a, { allow: false }), SRT_REJX.FORBIDDEN, /denied by the auth hook/);
    refused(applyHookAnswer(a, { allow: false, reason: SRT_REJX.UNAUTHORIZED }), SRT_REJX.UNAUTHORIZED, /denied/);
  });

  test('an allowance may rename the stream and set the passphrase', () => {
    assert.deepEqual(applyHookAnswer(a, { allow: true }), a);
    assert.deepEqual(applyHookAnswer(a, { allow: true, name: '/live/b', passphrase: 'hook-secret-12' }), { ...a, name: 'live/b', passphrase: 'hook-secret-12' });
  });

  test('the whitelist applies only in whitelist mode', () => {
    const wl = new Set(['live/a']);
    assert.equal(checkWhitelist('live/b', { ...base }, wl), undefined);
    assert.equal(checkWhitelist('live/a', { ...base, accessMode: 'whitelist' }, wl), undefined);
    refused(checkWhitelist('live/b', { ...base, accessMode: 'whitelist' }, wl), SRT_REJX.FORBIDDEN, /"live\/b" is not whitelisted/);
  });
});

describe('limits and placement', () => {
  test('maxConnections, maxPerPeer and maxPerStream (players only) give 1402', () => {
    refused(checkLimits('10.0.0.1', 'live/a', 'publish', { ...base, maxConnections: 2 }, view({ total: 2 })), SRT_REJX.OVERLOAD, /server full \(2 connections\)/);
    assert.equal(checkLimits('10.0.0.1', 'live/a', 'publish', { ...base, maxConnections: 2 }, view({ total: 1 })), undefined);
    refused(checkLimits('10.0.0.1', 'live/a', 'request', { ...base, maxPerPeer: 1 }, view({ perAddress: { '10.0.0.1': 1 } })), SRT_REJX.OVERLOAD, /too many connections from 10\.0\.0\.1 \(1\)/);
    assert.equal(checkLimits('10.0.0.2', 'live/a', 'request', { ...base, maxPerPeer: 1 }, view({ perAddress: { '10.0.0.1': 1 } })), undefined);
    const twoPlayers = view({ streams: { 'live/a': { publisher: true, players: 1 } }, reserved: { 'live/a': { players: 1 } } });
    refused(checkLimits('10.0.0.1', 'live/a', 'request', { ...base, maxPerStream: 2 }, twoPlayers), SRT_REJX.OVERLOAD, /maximum of 2 players/);
    assert.equal(checkLimits('10.0.0.1', 'live/a', 'publish', { ...base, maxPerStream: 2 }, twoPlayers), undefined);
  });

  test('the publish-reservation check: a publisher or a reserved one is 1409, a reserved backup is not', () => {
    refused(publisherConflict('live/a', view({ streams: { 'live/a': { publisher: true } } })), SRT_REJX.CONFLICT, /"live\/a" is already published/);
    refused(publisherConflict('live/a', view({ reserved: { 'live/a': { publisher: true } } })), SRT_REJX.CONFLICT, /already published/);
    assert.equal(publisherConflict('live/a', view({ reserved: { 'live/a': { backup: true } }, streams: { 'live/a': { players: 3 } } })), undefined);
    assert.equal(publisherConflict('live/a', view({ streams: { 'live/b': { publisher: true } } })), undefined);
  });

  test('publishers, backups and players', () => {
    const pub = { name: 'live/a', mode: 'publish' as const, backup: false };
    const bak = { ...pub, backup: true };
    const player = { name: 'live/a', mode: 'request' as const, backup: false };
    assert.deepEqual(place('10.0.0.1', pub, base, view()), { role: 'publisher' });
    refused(place('10.0.0.1', pub, base, view({ streams: { 'live/a': { publisher: true } } })), SRT_REJX.CONFLICT, /already published/);
    assert.deepEqual(place('10.0.0.1', bak, base, view({ streams: { 'live/a': { publisher: true } } })), { role: 'backup' });
    refused(place('10.0.0.1', bak, base, view({ streams: { 'live/a': { publisher: true, backup: true } } })), SRT_REJX.CONFLICT, /already has a backup publisher/);
    refused(place('10.0.0.1', bak, base, view({ reserved: { 'live/a': { backup: true } } })), SRT_REJX.CONFLICT, /already has a backup publisher/);
    refused(place('10.0.0.1', player, base, view()), SRT_REJX.NOTFOUND, /"live\/a" is not published/);
    assert.deepEqual(place('10.0.0.1', player, { ...base, waitForPublisher: true }, view()), { role: 'player' });
    assert.deepEqual(place('10.0.0.1', player, base, view({ streams: { 'live/a': {} } })), { role: 'player' });
    // the limits come first
    refused(place('10.0.0.1', pub, { ...base, maxConnections: 0 }, view()), SRT_REJX.OVERLOAD, /server full/);
  });
});
