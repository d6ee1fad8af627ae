// Public library API: listen() and dial().
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { ConnectRequest } from '../protocol/listener.js';
import { resolveOptions, type SrtOptions } from '../protocol/options.js';
import { SrtError, SrtRejectedError } from './errors.js';
import { Multiplexer, type AcceptHook, type ConnEntry } from './mux.js';
import type { SrtSocket } from './socket.js';
import { parseSrtUrl } from './url.js';

export interface ListenOptions extends Partial<SrtOptions> {
  host?: string;
  port: number;
  /** Decide on each caller before it is answered (may be async). */
  accept?: AcceptHook;
}

export interface SrtServerEvents {
  connection: [socket: SrtSocket, request: ConnectRequest];
  rejected: [request: ConnectRequest, reason: number];
  error: [error: Error];
}

/** A listening SRT socket: all callers on one UDP port. */
export class SrtServer extends EventEmitter<SrtServerEvents> {
  private closed = false;
  constructor(private readonly mux: Multiplexer) {
    super();
    mux.on('accepted', (s: SrtSocket, req: ConnectRequest) => this.emit('connection', s, req));
    mux.on('rejected', (req: ConnectRequest, reason: number) => this.emit('rejected', req, reason));
    mux.on('socketError', (err: Error) => { if (this.listenerCount('error') > 0) this.emit('error', err); });
  }

  address(): { address: string; port: number } {
    return this.mux.address();
  }

  get connectionCount(): number {
    return this.mux.connectionCount;
  }

  /** Datagram counters of the shared UDP socket (invalid, unknown destination …). */
  get counters(): Multiplexer['counters'] {
    return this.mux.counters;
  }

  /** Closes the listener and every connection (SHUTDOWN to each peer). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.mux.close();
  }
}

function family(host: string): 'udp4' | 'udp6' {
  return isIP(host) === 6 ? 'udp6' : 'udp4';
}

export async function listen(opts: ListenOptions): Promise<SrtServer> {
  const { host, port, accept, ...srt } = opts;
  const options = resolveOptions(srt);
  const bindHost = host && host !== '' ? host : '0.0.0.0';
  const mux = new Multiplexer(family(bindHost));
  mux.setListener(options, accept ?? null);
  try {
    await mux.bind(port, bindHost);
  } catch (e) {
    await mux.close().catch(() => undefined);
    const err = e as NodeJS.ErrnoException;
    throw new SrtError(err.code === 'EADDRINUSE' ? 'SRT_EDUPLISTEN' : 'SRT_EBINDCONFLICT', `cannot listen on ${bindHost}:${port}: ${err.message}`);
  }
  return new SrtServer(mux);
}

export interface DialOptions extends Partial<SrtOptions> {
  host: string;
  port: number;
  /** Local address/port to bind (optional). */
  localAddress?: string;
  localPort?: number;
}

/** Connects as a caller. Accepts an srt:// URL or options. Rejects with SrtRejectedError(reason). */
export async function dial(target: string | DialOptions): Promise<SrtSocket> {
  let o: DialOptions;
  if (typeof target === 'string') {
    const u = parseSrtUrl(target);
    if (u.mode !== 'caller') throw new SrtError('SRT_EINVPARAM', `dial() needs caller mode, the URL asks for ${u.mode}`);
    o = { ...u.options, host: u.host, port: u.port, localAddress: u.adapter, localPort: u.localPort };
  } else {
    o = target;
  }
  const { host, port, localAddress, localPort, ...srt } = o;
  const options = resolveOptions(srt);
  const address = isIP(host) ? host : (await lookup(host)).address;
  const mux = new Multiplexer(family(address));
  try {
    await mux.bind(localPort ?? 0, localAddress ?? (family(address) === 'udp6' ? '::' : '0.0.0.0'));
  } catch (e) {
    await mux.close().catch(() => undefined);
    throw new SrtError('SRT_EBINDCONFLICT', `cannot bind the local socket: ${(e as Error).message}`);
  }
  try {
    await mux.connectPeer(address, port);
    const socket = await mux.connect(address, port, options);
    mux.on('connectionClosed', (_e: ConnEntry) => { void mux.close(); });
    return socket;
  } catch (reason) {
    await mux.close();
    if (typeof reason === 'number') throw new SrtRejectedError(reason);
    throw reason;
  }
}
