// Public library API: listen() and dial().
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import type { ConnectRequest } from '../protocol/listener.js';
import { resolveOptions, type SrtOptions } from '../protocol/options.js';
import { SRT_REJ } from '../protocol/reject.js';
import { SrtError, SrtRejectedError } from './errors.js';
import { Multiplexer, type AcceptHook, type MuxLink } from './mux.js';
import type { SrtSocket } from './socket.js';
import { parseSrtUrl, type SrtGroupSpec } from './url.js';
import { groupTypeValue } from '../protocol/group.js';

export interface ListenOptions extends Partial<SrtOptions> {
  host?: string;
  port: number;
  /** Decide on each caller before it is answered (may be async). */
  accept?: AcceptHook;
  /**
   * Bind with SO_REUSEPORT (Linux, Node ≥ 22.12): several listeners — one per worker thread — share
   * the port and the kernel hands each peer address to one of them (ClusterServer, ADR 14).
   */
  reusePort?: boolean;
}

export interface SrtServerEvents {
  /** A new caller — or a new connection group (groupconnect): one socket for all its members. */
  connection: [socket: SrtSocket, request: ConnectRequest];
  /** Another member joined a group announced by 'connection' (bonding, ADR 16). */
  member: [socket: SrtSocket, request: ConnectRequest];
  rejected: [request: ConnectRequest, reason: number];
  error: [error: Error];
}

/** A listening SRT socket: all callers on one UDP port. */
export class SrtServer extends EventEmitter<SrtServerEvents> {
  private closed = false;
  constructor(private readonly mux: Multiplexer) {
    super();
    mux.on('accepted', (s: SrtSocket, req: ConnectRequest) => this.emit('connection', s, req));
    mux.on('memberAccepted', (s: SrtSocket, req: ConnectRequest) => this.emit('member', s, req));
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
  const { host, port, accept, reusePort, ...srt } = opts;
  const options = resolveOptions(srt);
  const bindHost = host && host !== '' ? host : '0.0.0.0';
  const mux = new Multiplexer(family(bindHost), { reusePort });
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
  /**
   * Local port. A caller binds an ephemeral port by default; a rendezvous binds `port` itself, as
   * srt-live-transmit does (both peers use the same port number unless told otherwise).
   */
  localPort?: number;
  /** 'caller' (default) or 'rendezvous' (HSv5: both peers connect to each other). */
  mode?: 'caller' | 'rendezvous';
  /** Aborting gives up the attempt at once and releases the local port (rejects with SRT_REJ_CLOSE). */
  signal?: AbortSignal;
  /**
   * Rendezvous only: our cookie (non-zero), which decides the roles against the peer's; random by
   * default. Tests use it to pick INITIATOR or RESPONDER against a libsrt peer, whose cookie is
   * predictable (MD5 over "host:port:minute" of its target).
   */
  cookie?: number;
  /**
   * A caller group (bonding, ADR 16): one member connection to each node (`host`/`port` are then
   * ignored); resolves with the group's socket once the first member connects.
   */
  group?: SrtGroupSpec;
}

/**
 * Connects as a caller, or as a rendezvous peer with `mode: 'rendezvous'` (or `?mode=rendezvous`
 * in a URL). Accepts an srt:// URL or options. Rejects with SrtRejectedError(reason).
 */
export async function dial(target: string | DialOptions): Promise<SrtSocket> {
  let o: DialOptions;
  if (typeof target === 'string') {
    const u = parseSrtUrl(target);
    if (u.mode === 'listener') throw new SrtError('SRT_EINVPARAM', 'dial() needs caller or rendezvous mode, the URL asks for listener');
    o = { ...u.options, host: u.host, port: u.port, localAddress: u.adapter, localPort: u.localPort, mode: u.mode };
    if (u.group) o.group = u.group;
  } else {
    o = target;
  }
  const { host, port, localAddress, localPort, mode, signal, cookie, group, ...srt } = o;
  const rendezvous = mode === 'rendezvous';
  const options = resolveOptions(srt);
  if (group) {
    if (rendezvous) throw new SrtError('SRT_EINVPARAM', 'a connection group dials as a caller, not in rendezvous mode');
    return dialGroup(group, options, localAddress, localPort, signal);
  }
  const address = isIP(host) ? host : (await lookup(host)).address;
  const mux = new Multiplexer(family(address));
  const bindPort = localPort ?? (rendezvous ? port : 0);
  try {
    await mux.bind(bindPort, localAddress || (family(address) === 'udp6' ? '::' : '0.0.0.0'));
  } catch (e) {
    await mux.close().catch(() => undefined);
    throw new SrtError('SRT_EBINDCONFLICT', `cannot bind the local socket${bindPort ? ` to port ${bindPort}` : ''}: ${(e as Error).message}`);
  }
  const onAbort = (): void => { void mux.close(); };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new SrtRejectedError(SRT_REJ.CLOSE);
    await mux.connectPeer(address, port);
    const socket = await (rendezvous ? mux.rendezvous(address, port, options, cookie) : mux.connect(address, port, options));
    mux.on('connectionClosed', (_l: MuxLink) => { void mux.close(); });
    return socket;
  } catch (e) {
    await mux.close();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** A caller group: one UDP socket (bound to the wildcard address, so each member leaves by its own route). */
async function dialGroup(group: SrtGroupSpec, options: SrtOptions, localAddress: string | undefined, localPort: number | undefined, signal: AbortSignal | undefined): Promise<SrtSocket> {
  const nodes = await Promise.all(group.nodes.map(async (n) => ({ address: isIP(n.host) ? n.host : (await lookup(n.host)).address, port: n.port, weight: n.weight })));
  const fam = family(nodes[0]!.address);
  if (nodes.some((n) => family(n.address) !== fam)) throw new SrtError('SRT_EINVPARAM', 'the members of a group must all be IPv4 or all IPv6');
  const mux = new Multiplexer(fam);
  try {
    await mux.bind(localPort ?? 0, localAddress || (fam === 'udp6' ? '::' : '0.0.0.0'));
  } catch (e) {
    await mux.close().catch(() => undefined);
    throw new SrtError('SRT_EBINDCONFLICT', `cannot bind the local socket: ${(e as Error).message}`);
  }
  const onAbort = (): void => { void mux.close(); };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (signal?.aborted) throw new SrtRejectedError(SRT_REJ.CLOSE);
    const socket = await mux.connectGroup(groupTypeValue(group.type), nodes, options);
    mux.on('connectionClosed', () => { void mux.close(); });
    return socket;
  } catch (e) {
    await mux.close();
    throw e;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

export type RendezvousOptions = Omit<DialOptions, 'mode'>;

/** HSv5 rendezvous with the peer at host:port, from localPort (default: port). */
export async function rendezvous(target: string | RendezvousOptions): Promise<SrtSocket> {
  if (typeof target === 'string') {
    const u = parseSrtUrl(target);
    if (u.mode === 'listener') throw new SrtError('SRT_EINVPARAM', 'rendezvous() needs a peer host');
    return dial({ ...u.options, host: u.host, port: u.port, localAddress: u.adapter, localPort: u.localPort, mode: 'rendezvous' });
  }
  return dial({ ...target, mode: 'rendezvous' });
}
