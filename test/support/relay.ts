// A small UDP impairment relay (this kernel has no netem): forwards between one client and a
// server address, dropping (seeded) and optionally delaying datagrams in each direction.
import dgram from 'node:dgram';

export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RelayOptions {
  targetPort: number;
  targetHost?: string;
  lossToTarget: number; // 0..1
  lossToClient: number;
  delayMs?: number;
  seed: number;
  /** Extra deterministic drop rule, applied before the random loss (e.g. chosen data packets). */
  dropIf?: (datagram: Buffer, toTarget: boolean) => boolean;
}

export class LossyRelay {
  private readonly sock = dgram.createSocket('udp4');
  private readonly out = dgram.createSocket('udp4');
  private client: { address: string; port: number } | null = null;
  private readonly rnd: () => number;
  dropped = { toTarget: 0, toClient: 0 };
  forwarded = { toTarget: 0, toClient: 0 };

  constructor(private readonly o: RelayOptions) {
    this.rnd = prng(o.seed);
    this.sock.on('message', (m, r) => {
      this.client = { address: r.address, port: r.port };
      if (o.dropIf?.(m, true)) { this.dropped.toTarget++; return; }
      if (this.rnd() < o.lossToTarget) { this.dropped.toTarget++; return; }
      this.forwarded.toTarget++;
      this.later(() => this.out.send(m, o.targetPort, o.targetHost ?? '127.0.0.1'));
    });
    this.out.on('message', (m) => {
      if (!this.client) return;
      if (o.dropIf?.(m, false)) { this.dropped.toClient++; return; }
      if (this.rnd() < o.lossToClient) { this.dropped.toClient++; return; }
      this.forwarded.toClient++;
      const c = this.client;
      this.later(() => this.sock.send(m, c.port, c.address));
    });
  }

  private later(f: () => void): void {
    if (this.o.delayMs) setTimeout(f, this.o.delayMs);
    else f();
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.out.bind(0, '127.0.0.1', () => r()));
    // room for a burst while the event loop is busy: only the chosen drops should be lost
    for (const s of [this.sock, this.out]) {
      try { s.setRecvBufferSize(4 * 1024 * 1024); } catch { /* capped by the kernel */ }
    }
    return this.sock.address().port;
  }

  close(): void {
    this.sock.close();
    this.out.close();
  }
}
