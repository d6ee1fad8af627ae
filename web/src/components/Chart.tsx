// A time-series chart (uPlot): sized to its container, updated in place when new points arrive.
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  /** Fill under the line. */
  fill?: boolean;
}

export interface ChartProps {
  title: string;
  /** Sample times, ms since the epoch. */
  t: number[];
  /** One array per series, aligned with t; null is a gap. */
  ys: (number | null)[][];
  series: ChartSeries[];
  /** Formats a y value for the axis and the legend. */
  fmt?: (v: number) => string;
  height?: number;
}

export const PALETTE = ['#2f7de1', '#e8553d', '#2aa876', '#c9a227', '#8e5bd6', '#d6457f'];

export function Chart({ title, t, ys, series, fmt = (v) => String(Math.round(v * 100) / 100), height = 150 }: ChartProps): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const fmtRef = useRef(fmt);
  fmtRef.current = fmt;
  const data = (): uPlot.AlignedData => [t.map((x) => x / 1000), ...ys] as uPlot.AlignedData;

  // one plot per series layout; data updates go through setData
  const layout = series.map((s) => `${s.label}:${s.color}`).join('|');
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = Math.max(200, el.clientWidth);
    // the canvas cannot read CSS variables: take the theme's colours now
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue('--muted').trim() || '#666';
    const grid = css.getPropertyValue('--grid').trim() || '#ddd';
    const u = new uPlot({
      width,
      height,
      legend: { show: true, live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true } },
      series: [
        { value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 1.5,
          fill: s.fill ? `${s.color}22` : undefined,
          spanGaps: false,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '—' : fmtRef.current(v)),
        })),
      ],
      axes: [
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56, values: (_u, vals) => vals.map((v) => si(v)) },
      ],
    }, data(), el);
    plot.current = u;
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (Math.abs(w - u.width) > 1) u.setSize({ width: w, height });
    });
    ro.observe(el);
    return () => {
      ro.disconnect();
      u.destroy();
      plot.current = null;
    };
    // the plot is rebuilt only when its series change; data arrives through setData below
  }, [layout, height]);

  useEffect(() => {
    plot.current?.setData(data());
  });

  const last = t.length > 0 ? t[t.length - 1] : undefined;
  return (
    <figure class="chart" data-chart={title} data-points={t.length} data-last={last}>
      <figcaption>{title}</figcaption>
      <div ref={box} class="chart-plot" role="img" aria-label={`${title}: ${series.map((s, i) => `${s.label} ${latest(ys[i], fmt)}`).join(', ')}`} />
    </figure>
  );
}

/** Compact axis labels: 2.5M, 800k, 12, 0.5 (the unit is in the chart's title). */
export function si(v: number): string {
  const a = Math.abs(v);
  const r = (x: number): string => String(Math.round(x * 10) / 10);
  if (a >= 1e9) return `${r(v / 1e9)}G`;
  if (a >= 1e6) return `${r(v / 1e6)}M`;
  if (a >= 1e3) return `${r(v / 1e3)}k`;
  return a > 0 && a < 1 ? String(Math.round(v * 100) / 100) : r(v);
}

function latest(ys: (number | null)[] | undefined, fmt: (v: number) => string): string {
  if (!ys) return '—';
  for (let i = ys.length - 1; i >= 0; i--) if (ys[i] !== null && ys[i] !== undefined) return fmt(ys[i]!);
  return '—';
}
