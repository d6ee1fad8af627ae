// Data hooks: load once, or poll every n ms (paused while the tab is hidden, never overlapping).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** Runs `fn` now and every `intervalMs` (0: once) while the deps stay the same. */
export function usePoll<T>(fn: (signal: AbortSignal) => Promise<T>, intervalMs: number, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ctl = new AbortController();
    setLoading(true);
    const run = async (): Promise<void> => {
      if (stopped) return;
      if (document.hidden && intervalMs > 0) {
        timer = setTimeout(() => void run(), intervalMs);
        return;
      }
      try {
        const v = await fnRef.current(ctl.signal);
        if (stopped) return;
        setData(v);
        setError(null);
      } catch (e) {
        if (stopped || (e as Error).name === 'AbortError') return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'ERROR', (e as Error).message));
      } finally {
        if (!stopped) setLoading(false);
      }
      if (!stopped && intervalMs > 0) timer = setTimeout(() => void run(), intervalMs);
    };
    void run();
    return () => {
      stopped = true;
      ctl.abort();
      if (timer) clearTimeout(timer);
    };
  }, [...deps, intervalMs, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/** Remembers a value in localStorage. */
export function useStored<T>(key: string, initial: T): [T, (v: T) => void] {
  const [v, setV] = useState<T>(() => {
    try {
      const s = localStorage.getItem(key);
      return s === null ? initial : (JSON.parse(s) as T);
    } catch {
      return initial;
    }
  });
  const set = useCallback((x: T) => {
    setV(x);
    try {
      localStorage.setItem(key, JSON.stringify(x));
    } catch {
      /* storage full or disabled: keep it in memory */
    }
  }, [key]);
  return [v, set];
}
