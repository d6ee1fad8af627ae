// Live chart data from the statistics history API: the first read takes what the server kept
// (so a page opened late shows the last minutes), then every second only the new samples.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type Answer } from '../api';

/** How much a chart shows. */
export const WINDOW_MS = 5 * 60_000;

export type StreamSeries = Answer<'/api/v1/servers/{id}/history'>['streams'][number];
export type ConnectionSeries = Answer<'/api/v1/servers/{id}/connections/{cid}/history'>;

type Columns = { t: number[] } & Record<string, unknown>;

/** Appends b's samples to a (same fields) and drops what is older than the window. */
function merge<T extends Columns>(a: T | undefined, b: T, fields: readonly string[]): T {
  if (!a) return trim({ ...b }, fields);
  const out = { ...b } as T;
  out.t = [...a.t, ...b.t];
  for (const f of fields) (out as Record<string, unknown>)[f] = [...(a[f] as unknown[]), ...(b[f] as unknown[])];
  return trim(out, fields);
}

function trim<T extends Columns>(s: T, fields: readonly string[]): T {
  const newest = s.t[s.t.length - 1];
  if (newest === undefined) return s;
  let i = 0;
  while (i < s.t.length && s.t[i]! < newest - WINDOW_MS) i++;
  if (i === 0) return s;
  s.t = s.t.slice(i);
  for (const f of fields) (s as Record<string, unknown>)[f] = (s[f] as unknown[]).slice(i);
  return s;
}

const STREAM_FIELDS = ['bitrate_in', 'players'] as const;
export const CONNECTION_FIELDS = ['mbps_send_rate', 'mbps_recv_rate', 'ms_rtt', 'loss_per_s', 'retrans_per_s', 'drop_per_s', 'ms_rcv_buf'] as const;

/** Per-stream series of a server, updated every second. */
export function useStreamHistory(serverId: number): Map<string, StreamSeries> {
  const store = useRef(new Map<string, StreamSeries>());
  const [, setVersion] = useState(0);
  useEffect(() => {
    store.current = new Map();
    let last = 0;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctl = new AbortController();
    const run = async (): Promise<void> => {
      if (!document.hidden) {
        try {
          const r = await api.get('/api/v1/servers/{id}/history', { params: { id: serverId }, query: last ? { since: String(last + 1) } : {}, signal: ctl.signal });
          if (stopped) return;
          const next = new Map<string, StreamSeries>();
          for (const s of r.streams) {
            const merged = merge(store.current.get(s.stream), s, STREAM_FIELDS);
            next.set(s.stream, merged);
            last = Math.max(last, merged.t[merged.t.length - 1] ?? 0);
          }
          // streams without new samples keep what they had (and age out of the window)
          for (const [k, v] of store.current) if (!next.has(k) && (v.t[v.t.length - 1] ?? 0) > last - WINDOW_MS) next.set(k, { ...v, live: false });
          store.current = next;
          setVersion((x) => x + 1);
        } catch {
          /* the next tick tries again; the streams list shows errors */
        }
      }
      if (!stopped) timer = setTimeout(() => void run(), 1000);
    };
    void run();
    return () => {
      stopped = true;
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [serverId]);
  return store.current;
}

/** One connection's series, updated every second; null until known, or when the server kept none. */
export function useConnectionHistory(serverId: number, cid: number): ConnectionSeries | null {
  const [data, setData] = useState<ConnectionSeries | null>(null);
  useEffect(() => {
    let cur: ConnectionSeries | undefined;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctl = new AbortController();
    setData(null);
    const run = async (): Promise<void> => {
      if (!document.hidden) {
        try {
          const last = cur?.t[cur.t.length - 1];
          const r = await api.get('/api/v1/servers/{id}/connections/{cid}/history', { params: { id: serverId, cid }, query: last ? { since: String(last + 1) } : {}, signal: ctl.signal });
          if (stopped) return;
          cur = merge(cur, r, CONNECTION_FIELDS);
          setData(cur);
        } catch {
          /* not sampled yet, or gone: try again */
        }
      }
      if (!stopped) timer = setTimeout(() => void run(), 1000);
    };
    void run();
    return () => {
      stopped = true;
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [serverId, cid]);
  return data;
}
