// Helpers shared by the benchmarks.
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
