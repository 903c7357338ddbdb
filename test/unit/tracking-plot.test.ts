import { Resvg } from "@resvg/resvg-js";
import { describe, expect, it } from "vitest";
import { plotFormatOf, renderPlot } from "../../src/bridge/tracking/plot.ts";
import type { MetricRecord } from "../../src/store/tracking-records.ts";

function metrics(names: string[], n: number): MetricRecord[] {
  const out: MetricRecord[] = [];
  names.forEach((name, k) => {
    for (let step = 0; step < n; step++) out.push({ run_uuid: "r", name, value: (k + 1) * step, step, timestamp: step });
  });
  return out;
}

/** The line marks of the SVG, one per series, each with how many path elements it holds. */
function lineSeries(svg: string): number[] {
  return [...svg.matchAll(/<g class="mark-line role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].map((m) => (m[1]!.match(/<path/g) ?? []).length);
}

describe("tracking - metric plots", () => {
  it("draws one line per metric in an SVG", async () => {
    const svg = (await renderPlot("run", metrics(["loss", "epochs_per_s", "latency_ms"], 8), "svg")).toString("utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(lineSeries(svg)).toEqual([1, 1, 1]);
    for (const name of ["loss", "epochs_per_s", "latency_ms"]) expect(svg).toContain(`>${name}<`);
  });

  it("writes a valid PNG that decodes to an image", async () => {
    const png = await renderPlot("run", metrics(["a", "b"], 5), "png");
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: width and height are big-endian at bytes 16..24.
    expect(png.readUInt32BE(16)).toBeGreaterThan(400);
    expect(png.readUInt32BE(20)).toBeGreaterThan(300);
    // Decodes: resvg reads it back as an <image> of an SVG.
    const back = new Resvg(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="data:image/png;base64,${png.toString("base64")}" width="10" height="10"/></svg>`).render();
    expect(back.width).toBe(10);
  });

  it("leaves non-numeric values out and knows the formats by extension", async () => {
    const m: MetricRecord[] = [...metrics(["x"], 3), { run_uuid: "r", name: "label", value: "text", step: 0, timestamp: 0 }];
    expect(lineSeries((await renderPlot("run", m, "svg")).toString())).toEqual([1]);
    expect(plotFormatOf("a/b.PNG")).toBe("png");
    expect(plotFormatOf("b.svg")).toBe("svg");
    expect(plotFormatOf("b.jpg")).toBeUndefined();
  });
});
