/** One metric over steps, one series per chosen run (uPlot on a canvas; made again only when the runs change). */
import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { MetricPoint } from "../../src/bridge/dashboard/messages.ts";

const COLORS = ["#2563eb", "#c62828", "#1f8a4c", "#c27c0e", "#7c3aed", "#0891b2", "#be185d", "#4b5563"];

export interface Series {
  readonly runId: string;
  readonly label: string;
  readonly points: readonly MetricPoint[];
}

/** uPlot's columns: the union of steps, and per run its value at each (null where it logged none). */
function columns(name: string, series: readonly Series[]): { data: uPlot.AlignedData; count: number } {
  const per = series.map((s) => {
    const m = new Map<number, number>();
    for (const p of s.points) if (p.name === name) m.set(p.step, p.value);
    return m;
  });
  const steps = [...new Set(per.flatMap((m) => [...m.keys()]))].sort((a, b) => a - b);
  const count = per.reduce((n, m) => n + m.size, 0);
  return { data: [steps, ...per.map((m) => steps.map((s) => m.get(s) ?? null))] as uPlot.AlignedData, count };
}

export function MetricChart(props: { name: string; series: readonly Series[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const shape = props.series.map((s) => `${s.runId}:${s.label}`).join("|");
  const { data, count } = columns(props.name, props.series);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const u = new uPlot(
      {
        width: 460,
        height: 220,
        scales: { x: { time: false } },
        axes: [{ label: "step" }, {}],
        series: [{ label: "step" }, ...props.series.map((s, i) => ({ label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))],
      },
      data,
      el,
    );
    plot.current = u;
    return () => {
      u.destroy();
      plot.current = undefined;
    };
  }, [shape, props.name]);
  useEffect(() => {
    plot.current?.setData(data);
  });
  return (
    <div class="chart" data-testid={`chart-${props.name}`} data-points={count}>
      <h3>{props.name}</h3>
      <div ref={box} />
    </div>
  );
}
