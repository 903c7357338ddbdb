/**
 * The dashboard's jobs view in Chromium: `tubular serve`'s bridge with the job
 * registry on a SQLite file, a real host agent working for it, a run submitted
 * over HTTP; the page shows its progress bar moving to 100 % and its events.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BridgeServer } from "../../src/bridge/server.ts";
import { openJobServer, type JobServer } from "../../src/bridge/registry/index.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { openBrowser, screenshot, type OpenBrowser } from "../helpers/browser.ts";
import { stopChild } from "../helpers/processes.ts";
import { startTubular } from "../helpers/cli.ts";

const KEY = "jobs-dashboard-key";
let dir: string;
let jobs: JobServer;
let bridge: BridgeServer;
let base: string;
let agent: ChildProcess | undefined;
let browser: OpenBrowser | undefined;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "tubular-dash-jobs-"));
  const log = pino({ level: "silent" });
  jobs = await openJobServer({ db: path.join(dir, "jobs.db"), graphsDir: path.join(projectRoot, "examples"), log });
  bridge = new BridgeServer({ apiKeys: [KEY], port: 0, httpHandler: jobs.httpHandler, dashboardJobs: jobs.store, logger: log });
  const { port } = await bridge.start();
  base = `http://127.0.0.1:${port}`;
  // A loaded machine may take a while to start a TypeScript process.
  ({ child: agent } = await startTubular(["host", "--registry", base, "--api-key", KEY, "--worker-id", "dash-agent", "--runner", "local", "--state-dir", dir, "--log-level", "warn"], /working for/, { timeoutMs: 75_000 }));
}, 90_000);

afterAll(async () => {
  await browser?.close();
  if (agent) await stopChild(agent);
  await bridge?.close();
  await jobs?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("dashboard - jobs in Chromium", () => {
  it("a submitted job's progress bar moves to 100 % and its events show as they come", async () => {
    browser = await openBrowser();
    const page = browser.page;
    await page.goto(`${base}/`);
    await page.fill("input[name=key]", KEY);
    await page.click("button[type=submit]");
    await page.click("[data-testid=view-jobs]");
    await page.waitForSelector("text=No runs in the job registry yet.");
    // Every value the bar shows, as the page shows it.
    await page.evaluate(() => {
      const seen: number[] = [];
      (window as unknown as { seen: number[] }).seen = seen;
      new MutationObserver(() => {
        for (const el of document.querySelectorAll("[data-testid^=progress-]")) {
          const v = Number(el.getAttribute("aria-valuenow"));
          if (seen.at(-1) !== v) seen.push(v);
        }
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });

    const graph = { nodes: { a: { type: "count" }, s: { type: "sleep", depends: "a.index", params: { ms: 50 } }, return: { type: "return", depends: "s.value" } } };
    const res = await fetch(`${base}/runs`, { method: "POST", headers: { "X-API-Key": KEY, "Content-Type": "application/json" }, body: JSON.stringify({ image: "", graph, inputs: { epochs: 80 } }) });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };

    await page.waitForSelector(`[data-job="${id}"]`, { timeout: 15_000 });
    await page.click(`[data-job="${id}"]`);
    await page.waitForSelector(`[data-testid="progress-${id}"][aria-valuenow="100"]`, { timeout: 60_000 });
    await page.waitForFunction((jobId) => document.querySelector(`[data-testid="job-state-${jobId}"]`)?.textContent === "COMPLETED", id, { timeout: 15_000 });
    expect(await page.textContent(`[data-testid="progress-${id}"]`)).toMatch(/100 %/);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.at(-1)).toBe(100);
    // The bar moved: it showed a value between the start and the end on the way.
    expect(seen.some((v) => v > 0 && v < 100)).toBe(true);
    await page.waitForSelector("[data-testid=job-events] [data-event=COMPLETED]", { timeout: 15_000 });
    const types = await page.$$eval("[data-testid=job-events] [data-event]", (els) => els.map((e) => e.getAttribute("data-event")));
    expect(types.filter((t) => t !== "PROGRESS" && t !== "INFO")).toEqual(["CREATED", "ASSIGNED", "STARTED", "COMPLETED"]);
    expect(types).toContain("PROGRESS");
    expect(await page.textContent(`[data-job="${id}"]`)).toMatch(/dash-agent/);
    await screenshot(page, "jobs-completed");
  }, 120_000);
});
