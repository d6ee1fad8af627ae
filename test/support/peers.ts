// Real peers for interop tests: srt-live-transmit and ffmpeg. Missing tools fail the test.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from './wait.js';

export function requireTool(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  if (r.status !== 0 || path === '') {
    throw new Error(`${name} is not installed: interop tests need it (apt-get install -y srt-tools ffmpeg)`);
  }
  return path;
}

export interface Peer {
  proc: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChildProcess>();
process.on('exit', () => { for (const p of running) p.kill('SIGKILL'); });

export function spawnPeer(cmd: string, args: string[], opts: { stdout?: 'pipe' | 'ignore' } = {}): Peer {
  requireTool(cmd);
  const proc = spawn(cmd, args, { stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'] });
  running.add(proc);
  let out = '';
  proc.stdout?.on('data', (d: Buffer) => { if (out.length < 200_000) out += d.toString(); });
  proc.stderr?.on('data', (d: Buffer) => { if (out.length < 200_000) out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => { running.delete(proc); resolve(code); }));
  return {
    proc,
    output: () => out,
    exited,
    kill: async (signal: NodeJS.Signals = 'SIGINT') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
      const c = await exited;
      clearTimeout(t);
      return c;
    },
  };
}

/** A UDP port that is free right now (bound and released). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until `cond` holds; once `ms` pass it THROWS "<what>: not within <ms> ms (<detail>)"
 * (`what` defaults to the condition's source text; `detail` reports the state seen last). Only for something that must happen: a property that must hold
 * for a while (something that must NOT happen) is asserted otherwise, never by a wait that expires.
 */
export async function until(cond: () => boolean, ms = 5000, what?: string, detail?: () => string): Promise<void> {
  await waitFor(cond, { what: what ?? `until ${cond.toString()}`, timeoutMs: ms, ...(detail ? { detail } : {}) });
}

export interface UdpSocketRow {
  /** "address:port" as the kernel shows it (hex). */
  local: string;
  /** Bytes queued for reading. */
  rxQueue: number;
  /** Datagrams the kernel dropped on this socket (its receive buffer was full). */
  drops: number;
}

/** The UDP sockets bound to `port` in this network namespace (/proc/net/udp and udp6). */
export function udpSockets(port: number): UdpSocketRow[] {
  const rows: UdpSocketRow[] = [];
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const c = line.trim().split(/\s+/);
      if (c.length < 13) continue;
      const local = c[1]!;
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      rows.push({ local, rxQueue: parseInt(c[4]!.split(':')[1] ?? '0', 16), drops: Number(c[12]) });
    }
  }
  return rows;
}

/** Datagrams the kernel dropped on the sockets bound to `port` (0 if none is bound any more). */
export function udpDrops(port: number): number {
  return udpSockets(port).reduce((n, r) => n + r.drops, 0);
}

/**
 * Waits until some process binds UDP `port` — a peer that listens (an SRT listener is a UDP socket)
 * or reads a UDP input is ready to receive. Fails naming `who` (and the peer's output if given).
 */
export async function waitForUdpPort(port: number, who: string, peer?: Peer, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => udpSockets(port).length > 0, {
    what: `${who} binds UDP port ${port}`, timeoutMs,
    detail: () => (peer ? `exit ${peer.proc.exitCode ?? peer.proc.signalCode ?? 'none yet'}, output: ${peer.output().slice(-1000)}` : 'no socket in /proc/net/udp'),
  });
}

/** Waits until `peer` prints a line matching `re`; fails naming `what` with its output. */
export async function waitForOutput(peer: Peer, re: RegExp, what: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => re.test(peer.output()), {
    what, timeoutMs,
    detail: () => `exit ${peer.proc.exitCode ?? peer.proc.signalCode ?? 'none yet'}, output: ${peer.output().slice(-1000)}`,
  });
}

/**
 * srt-live-transmit reads its input from the start but throws it away until its SRT side is
 * connected ("N bytes lost" at exit). Run it with -v and wait for the line it prints once its SRT
 * source or target is up ("SRT target connected" as a caller, "Accepted SRT target connection" as
 * a listener) before sending.
 */
export function sltConnected(slt: Peer, timeoutMs = 10_000): Promise<void> {
  return waitForOutput(slt, /SRT (source|target) connected|Accepted SRT (source|target) connection/, 'srt-live-transmit reports its SRT side connected', timeoutMs);
}

/** Deterministic payloads: message i carries its index and a pattern, so order and content are checked. */
export function makeMessages(n: number, size = 1316): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(size);
    b.writeUInt32BE(i, 0);
    for (let j = 4; j < size; j++) b[j] = (i * 31 + j * 7) & 0xff;
    out.push(b);
  }
  return out;
}

/** Sends datagrams to port at a steady rate (packets/s); resolves when all are sent. */
export async function udpSendPaced(port: number, msgs: Buffer[], pps: number, host = '127.0.0.1'): Promise<void> {
  const s = dgram.createSocket('udp4');
  const start = performance.now();
  for (let i = 0; i < msgs.length; i++) {
    const due = start + (i * 1000) / pps;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    await new Promise<void>((resolve) => s.send(msgs[i]!, port, host, () => resolve()));
  }
  s.close();
}

export interface UdpCollector {
  port: number;
  messages: Buffer[];
  close(): void;
  /**
   * Resolves once `n` datagrams arrived; otherwise THROWS after `timeoutMs` saying how many of the
   * `n` came (with the first and last message indexes, as `diffMessages`) and `detail()` if given
   * (the sender's statistics, kernel drops).
   */
  waitFor(n: number, timeoutMs: number, detail?: () => string): Promise<void>;
}

export async function udpCollect(port = 0): Promise<UdpCollector> {
  const s = dgram.createSocket('udp4');
  const messages: Buffer[] = [];
  s.on('message', (m) => messages.push(m));
  await new Promise<void>((resolve) => s.bind(port, '127.0.0.1', () => resolve()));
  s.setRecvBufferSize(4 * 1024 * 1024);
  const bound = s.address().port;
  let closed = false;
  return {
    port: bound,
    messages,
    close: () => { if (!closed) { closed = true; s.close(); } }, // idempotent: a finally or t.after may close it again
    waitFor: async (n, timeoutMs, detail) => {
      await waitFor(() => messages.length >= n, {
        what: `${n} datagrams arrive at UDP port ${bound}`, timeoutMs,
        detail: () => `${receivedSummary(messages, n)}${detail ? `; ${detail()}` : ''}`,
      });
    },
  };
}

/** "received X of N messages (first indexes: …, last: …)": the index a `makeMessages` message carries in its first 4 bytes. */
function receivedSummary(got: Buffer[], n: number): string {
  const idx = got.map((m) => (m.length >= 4 ? m.readUInt32BE(0) : -1));
  return `received ${got.length} of ${n} messages (first indexes: ${idx.slice(0, 5).join(',')}, last: ${idx.slice(-5).join(',')})`;
}

/** Asserts two message lists are identical; reports the first difference. */
export function diffMessages(sent: Buffer[], got: Buffer[]): string | null {
  if (got.length !== sent.length) return receivedSummary(got, sent.length);
  for (let i = 0; i < sent.length; i++) {
    if (!sent[i]!.equals(got[i]!)) return `message ${i} differs (got index ${got[i]!.length >= 4 ? got[i]!.readUInt32BE(0) : '?'}, length ${got[i]!.length})`;
  }
  return null;
}

let mediaCache: string | null = null;

/** A short H.264/AAC MPEG-TS made by ffmpeg, remuxed once so that a -c copy remux is byte-identical. */
export function testMedia(): string {
  if (mediaCache && existsSync(mediaCache)) return mediaCache;
  requireTool('ffmpeg');
  const dir = mkdtempSync(join(tmpdir(), 'sluice-media-'));
  const raw = join(dir, 'raw.ts');
  const out = join(dir, 'test.ts');
  const r1 = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=1000:sample_rate=48000',
    '-t', '4', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-b:v', '2M', '-maxrate', '2M', '-bufsize', '2M', '-g', '60', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-f', 'mpegts', raw], { encoding: 'utf8' });
  if (r1.status !== 0) throw new Error(`ffmpeg could not make test media: ${r1.stderr}`);
  const r2 = spawnSync('ffmpeg', ['-loglevel', 'error', '-y', '-i', raw, '-c', 'copy', '-f', 'mpegts', out], { encoding: 'utf8' });
  if (r2.status !== 0) throw new Error(`ffmpeg could not remux test media: ${r2.stderr}`);
  mediaCache = out;
  return out;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'sluice-test-'));
}
