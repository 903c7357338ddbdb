/**
 * Plots of a run's metrics: one line per metric over its steps, drawn by
 * vega-lite (compiled to a vega view rendered headless to SVG) and, for PNG,
 * rasterized by resvg. Each metric gets its own panel (its own y scale), so a
 * loss of 0.01 and a count of 10 000 are both readable.
 */
import { Resvg } from "@resvg/resvg-js";
import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import type { MetricRecord } from "../../store/tracking-records.ts";

export type PlotFormat = "svg" | "png";

/** The format a file name asks for, or undefined for an extension we do not draw. */
export function plotFormatOf(file: string): PlotFormat | undefined {
  const ext = file.toLowerCase().split(".").pop();
  return ext === "svg" || ext === "png" ? ext : undefined;
}

/** The numeric points of each metric (values that are not finite numbers are left out of the plot). */
export function plotPoints(metrics: readonly MetricRecord[]): Array<{ metric: string; step: number; value: number }> {
  return metrics.filter((m) => typeof m.value === "number" && Number.isFinite(m.value)).map((m) => ({ metric: m.name, step: m.step, value: m.value as number }));
}

/** The vega-lite spec: one panel per metric, rows, each with its own y axis. */
export function plotSpec(title: string, metrics: readonly MetricRecord[]): TopLevelSpec {
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values: plotPoints(metrics) },
    facet: { row: { field: "metric", type: "nominal", title: null } },
    spec: {
      width: 480,
      height: 140,
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "step", type: "quantitative", title: "step" },
        y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
        color: { field: "metric", type: "nominal", legend: null },
      },
    },
    resolve: { scale: { y: "independent" } },
    background: "white",
  };
}

/** Renders the metrics as an SVG document. */
export async function renderSvg(title: string, metrics: readonly MetricRecord[]): Promise<string> {
  const view = new vega.View(vega.parse(compile(plotSpec(title, metrics)).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Renders the metrics in the given format: SVG text or PNG bytes. */
export async function renderPlot(title: string, metrics: readonly MetricRecord[], format: PlotFormat): Promise<Buffer> {
  const svg = await renderSvg(title, metrics);
  if (format === "svg") return Buffer.from(svg, "utf8");
  return Buffer.from(new Resvg(svg, { fitTo: { mode: "zoom", value: 2 }, background: "white" }).render().asPng());
}
