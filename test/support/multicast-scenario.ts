// Run inside a private network namespace (loopback with a multicast route) by
// test/interop/gateways-multicast.test.ts: an RX gateway sends to a multicast group with a TTL, a
// TX gateway reads from a group. Prints one JSON line with what arrived. Does nothing unless
// SLUICE_MULTICAST_SCENARIO=1 (the test runner also loads every file under test/).
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { GatewayManager } from '../../src/core/gateways.js';
import { openSqlite } from '../../src/store/db.js';
import { dial } from '../../src/transport/api.js';
import { diffMessages, makeMessages, sleep, until } from './peers.js';

const RX_GROUP = '239.1.2.3';
const TX_GROUP = '239.1.2.4';

/** Joins `group` on `port` and keeps what arrives. */
async function joinGroup(group: string, port: number): Promise<{ messages: Buffer[]; close(): void }> {
  const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const messages: Buffer[] = [];
  s.on('message', (m) => messages.push(m));
  await new Promise<void>((resolve) => s.bind(port, () => resolve()));
  s.addMembership(group);
  return { messages, close: () => s.close() };
}

/** tshark on lo: the IP TTL of the first datagrams sent to `group`. */
async function captureTtl(group: string): Promise<() => Promise<number[]>> {
  const p = spawn('tshark', ['-i', 'lo', '-f', `udp and dst host ${group}`, '-c', '5', '-T', 'fields', '-e', 'ip.ttl'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  await until(() => err.includes('Capturing on'), 10_000);
  const exited = new Promise<void>((resolve) => p.on('exit', () => resolve()));
  return async () => {
    await Promise.race([exited, sleep(5000)]);
    p.kill('SIGKILL');
    return out.split('\n').filter((l) => l.trim() !== '').map(Number);
  };
}

async function rxToMulticast(m: GatewayManager): Promise<Record<string, unknown>> {
  const group = await joinGroup(RX_GROUP, 5009);
  const ttls = await captureTtl(RX_GROUP);
  const gw = await m.create('rx', { ServiceName: 'rx-mc', Mode: 'listener', ListenPort: 7005, UdpOut: `${RX_GROUP}:5009`, TTL: 4 });
  const caller = await dial({ host: '127.0.0.1', port: 7005 });
  await until(() => m.runtime(gw.id)?.connected === 1);
  const msgs = makeMessages(500);
  for (const x of msgs) {
    caller.write(x);
    await sleep(1);
  }
  await until(() => group.messages.length >= msgs.length, 5000);
  caller.destroy();
  group.close();
  return { status: gw.status, diff: diffMessages(msgs, group.messages), ttls: await ttls() };
}

async function multicastToTx(m: GatewayManager): Promise<Record<string, unknown>> {
  const gw = await m.create('tx', { ServiceName: 'tx-mc', Mode: 'listener', ListenPort: 7006, UdpIn: `${TX_GROUP}:5010` });
  const receiver = await dial({ host: '127.0.0.1', port: 7006 });
  const got: Buffer[] = [];
  receiver.on('data', (b: Buffer) => got.push(b));
  await until(() => m.runtime(gw.id)?.connected === 1);
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, () => resolve()));
  s.setMulticastLoopback(true);
  s.setMulticastTTL(1);
  const msgs = makeMessages(500);
  for (const x of msgs) {
    await new Promise<void>((resolve) => s.send(x, 5010, TX_GROUP, () => resolve()));
    await sleep(1);
  }
  await until(() => got.length >= msgs.length, 5000);
  s.close();
  receiver.destroy();
  return { status: gw.status, diff: diffMessages(msgs, got) };
}

async function main(): Promise<void> {
  const db = await openSqlite(':memory:');
  const m = new GatewayManager(db);
  try {
    const rx = await rxToMulticast(m);
    const tx = await multicastToTx(m);
    process.stdout.write(`${JSON.stringify({ rx, tx })}\n`);
  } finally {
    await m.closeAll();
    await db.destroy();
  }
}

if (process.env['SLUICE_MULTICAST_SCENARIO'] === '1') {
  main().then(() => process.exit(0), (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
