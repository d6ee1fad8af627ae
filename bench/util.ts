// Helpers shared by the benchmarks.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Median of the values (mean of the middle two for an even count). */
export function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Kernel drop counters of the UDP sockets bound to these local ports (/proc/net/udp 'drops'), by port. */
export function udpDrops(ports: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  try {
    for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const port = parseInt(f[1]!.split(':')[1]!, 16);
      if (ports.includes(port)) out[port] = (out[port] ?? 0) + Number(f[f.length - 1]);
    }
  } catch {
    // not Linux
  }
  return out;
}

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ, 100 on Linux). */
const CLK_TCK = 100;

/** CPU time (user + system) a process has used, s; NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime + stime
  } catch {
    return NaN;
  }
}

/** Resident set size of a process, bytes; NaN once it is gone. */
export function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Resolves with the first whole line of the child's output (stdout or stderr) matching `re`. */
export function waitLine(p: ChildProcess, re: RegExp, ms = 60_000, from: 'stdout' | 'stderr' = 'stdout'): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const stream = p[from]!;
    const t = setTimeout(() => { stream.off('data', on); reject(new Error(`timeout waiting for ${re}: ${buf.slice(-500)}`)); }, ms);
    const on = (d: Buffer): void => {
      buf += d.toString();
      const lines = buf.split('\n');
      lines.pop(); // only whole lines: a long JSON line arrives in several chunks
      const line = lines.find((l) => re.test(l));
      if (line !== undefined) { clearTimeout(t); stream.off('data', on); resolve(line); }
    };
    stream.on('data', on);
  });
}

/** A process's memory after a full garbage collection, read over its inspector (`--inspect=127.0.0.1:PORT`). */
export interface HeapReading { rss: number; heapTotal: number; heapUsed: number; external: number; arrayBuffers: number }

/**
 * Forces a full GC in the process listening for the inspector on `port` (HeapProfiler.collectGarbage),
 * then reads its `process.memoryUsage()`: what is live, as opposed to what V8 or malloc keeps.
 */
export async function heapAfterGc(port: number, timeoutMs = 30_000): Promise<HeapReading> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  const pending = new Map<number, (r: unknown) => void>();
  let next = 1;
  ws.addEventListener('message', (e: MessageEvent) => {
    const m = JSON.parse(String(e.data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id !== undefined) pending.get(m.id)?.(m.error ? new Error(m.error.message) : m.result);
  });
  const call = (method: string, params: object = {}): Promise<unknown> => new Promise((resolve, reject) => {
    const id = next++;
    const timer = setTimeout(() => reject(new Error(`inspector ${method}: no answer in ${timeoutMs} ms`)), timeoutMs);
    pending.set(id, (r) => { clearTimeout(timer); if (r instanceof Error) reject(r); else resolve(r); });
    ws.send(JSON.stringify({ id, method, params }));
  });
  try {
    await new Promise<void>((resolve, reject) => { ws.addEventListener('open', () => resolve()); ws.addEventListener('error', () => reject(new Error(`inspector on port ${port}: connection failed`))); });
    await call('HeapProfiler.collectGarbage');
    const r = (await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(r.result.value) as HeapReading;
  } finally {
    ws.close();
  }
}

/** The q-quantile of a histogram of millisecond values (value → count); NaN when it is empty. */
export function percentile(hist: Record<string, number>, q: number): number {
  const total = Object.values(hist).reduce((a, b) => a + b, 0);
  let acc = 0;
  for (const [ms, c] of Object.entries(hist).map(([k, v]) => [Number(k), v] as const).sort((a, b) => a[0] - b[0])) {
    acc += c;
    if (acc >= q * total) return ms;
  }
  return NaN;
}
