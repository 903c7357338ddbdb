/**
 * The dashboard in real Chromium: what a user opening it would check.
 * Screenshots of each state go to test-artifacts/dashboard/ (ignored by git).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Tracker } from "../../src/bridge/tracking/index.ts";
import { openStore } from "../../src/store/open.ts";
import { afterEach, describe, expect, it, onTestFailed } from "vitest";
import { BridgeServer, TubularClient } from "../../src/bridge/index.ts";
import { startDashboard, type Dashboard } from "../../src/bridge/dashboard/start.ts";
import type { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import type { ZmqRunnerOptions } from "../../src/runner/zmq/options.ts";
import { THREE_NODES } from "../fixtures/bridge-graphs.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { openBrowser, screenshot, type OpenBrowser } from "../helpers/browser.ts";
import { useZmqRunners } from "../helpers/zmq-runners.ts";

const startRunner = useZmqRunners();
// Heartbeats of 1 s rather than 250 ms: a machine loaded by other work must not make a runner look dead.
const started = (spec: unknown, options: ZmqRunnerOptions = {}) => startRunner(spec, { heartbeatMs: 1000, ...options });
const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function browser(): Promise<OpenBrowser> {
  const b = await openBrowser();
  cleanups.push(() => b.close());
  onTestFailed(async () => {
    await screenshot(b.page, `failed-${Date.now()}`).catch(() => undefined);
  });
  return b;
}

async function dashboardOf(runner: ZmqRunner, extra: Omit<Parameters<typeof startDashboard>[0], "runs"> = {}): Promise<Dashboard> {
  const dash = await startDashboard({ runs: [{ id: "run", label: runner.tube.id, kind: "zmq", tube: runner.tube, runner }], ...extra });
  cleanups.push(() => dash.close());
  return dash;
}

const text = async (b: OpenBrowser, selector: string) => ((await b.page.textContent(selector)) ?? "").trim();

describe("dashboard - in Chromium", () => {
  it("tubular serve: the page asks for a key, refuses a wrong one, and with a right one shows the 3-node graph with its edges", async () => {
    const server = new BridgeServer();
    const { port } = await server.start({ port: 0, apiKeys: ["right-key"] });
    cleanups.push(() => server.close());
    const client = new TubularClient(server.url);
    await client.connect("right-key");
    cleanups.push(() => client.close());
    const t = (await client.call("tube.load", { graph: THREE_NODES })) as { tube_id: string };
    const r = (await client.call("runner.init", { tube_id: t.tube_id, runner: "zmq" }, { timeout: 60 })) as { runner_id: string };
    expect(await client.call("runner.process", { runner_id: r.runner_id, input: { x: 3 } })).toEqual({ epoch: 0, value: 12 });

    const b = await browser();
    await b.page.goto(`http://127.0.0.1:${port}/`);
    await b.page.waitForSelector("[data-testid=login]");
    expect(await b.page.$("[data-testid=graph]")).toBeNull();
    await b.page.fill("input[name=key]", "wrong-key");
    await b.page.click("button[type=submit]");
    await b.page.waitForSelector("[data-testid=login-refused]");
    expect(await b.page.$("[data-testid=graph]")).toBeNull();
    expect(await b.page.evaluate(() => sessionStorage.getItem("tubular.dashboard.key"))).toBeNull();
    await screenshot(b.page, "serve-key-refused");

    await b.page.fill("input[name=key]", "right-key");
    await b.page.click("button[type=submit]");
    await b.page.waitForSelector("[data-testid=graph] [data-node=out]", { timeout: 15_000 });
    for (const id of ["double", "inc", "out"]) expect(await b.page.$(`[data-node=${id}]`)).not.toBeNull();
    const edges = await b.page.$$eval("[data-testid=graph] [data-edge]", (els) => els.map((e) => e.getAttribute("data-edge")).sort());
    expect(edges).toEqual(["double.value->inc.left", "inc.value->out.value", "input.x->double.left", "input.x->double.right", "input.x->inc.right"].sort());
    // Each edge is drawn as a path between its nodes.
    const drawn = await b.page.$$eval("[data-testid=graph] [data-edge] path", (els) => els.filter((e) => (e.getAttribute("d") ?? "").length > 5).length);
    expect(drawn).toBe(5);
    await b.page.waitForFunction(() => document.querySelector("[data-testid=run-epochs]")?.textContent === "1");
    // The key stays in this tab's session: a reload opens the dashboard without asking again.
    expect(await b.page.evaluate(() => sessionStorage.getItem("tubular.dashboard.key"))).toBe("right-key");
    await b.page.reload();
    await b.page.waitForSelector("[data-testid=graph] [data-node=out]", { timeout: 15_000 });
    await b.page.click("[data-node=double]");
    expect(await text(b, "[data-testid=node-panel]")).toMatch(/multiply/);
    await screenshot(b.page, "serve-graph");
  }, 90_000);

  it("tubular run --dashboard prints the URL; during a free-run a node's epochs/s figure changes", async () => {
    const b = await browser();
    const graph = path.join(projectRoot, "test/fixtures/graphs/dashboard-paced.yaml");
    const child: ChildProcess = spawn(process.execPath, [path.join(projectRoot, "bin/tubular.js"), "run", graph, "--free-run", "--max-in-flight", "4", "--quiet", "--dashboard"], { cwd: projectRoot, stdio: ["ignore", "ignore", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
    cleanups.push(async () => {
      child.kill("SIGKILL");
      await exited;
    });
    let stderr = "";
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no dashboard URL printed:\n${stderr}`)), 30_000);
      child.stderr!.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        const m = /dashboard: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
    });
    await b.page.goto(url);
    // No key on loopback: straight to the graph.
    await b.page.waitForSelector("[data-node=wait][data-status=running]", { timeout: 30_000 }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- tubular run's stderr:\n${stderr}`);
    });
    const figure = () => text(b, "[data-testid=rate-wait]");
    await b.page.waitForFunction(() => /^[\d.]+k?$/.test(document.querySelector("[data-testid=rate-wait]")?.textContent ?? "") && document.querySelector("[data-testid=rate-wait]")?.textContent !== "0.0", undefined, { timeout: 15_000 });
    const first = await figure();
    const epochsBefore = Number(await text(b, "[data-testid=run-epochs]"));
    await b.page.waitForFunction((was) => document.querySelector("[data-testid=rate-wait]")?.textContent !== was, first, { timeout: 15_000 });
    const second = await figure();
    expect(second).not.toBe(first);
    expect(second).toMatch(/^[\d.]+k?$/);
    await b.page.waitForFunction((was) => Number(document.querySelector("[data-testid=run-epochs]")?.textContent) > was, epochsBefore, { timeout: 15_000 });
    await screenshot(b.page, "run-free-run");
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  }, 90_000);

  it("during a free-run each node shows its process time p50/p99 and errors, and an edge's events/s figure changes", async () => {
    const runner = await started(
      {
        nodes: {
          a: { type: "count" },
          s: { type: "sporadic", params: { values: [1], every: 4 } },
          wait: { type: "sleep", depends: [{ value: "s.value" }], params: { ms: 5 } },
          b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 } },
          return: { type: "return", depends: "b.value" },
        },
      },
      { processes: "per-node" },
    );
    const dash = await dashboardOf(runner);
    const b = await browser();
    await b.page.goto(dash.url);
    await b.page.waitForSelector("[data-node=b][data-status=ready]", { timeout: 15_000 });
    await runner.start();
    cleanups.push(() => runner.stop());
    const edge = "[data-testid='edge-rate-a.index->b.left']";
    await b.page.waitForFunction((sel) => /^[\d.]+k?$/.test(document.querySelector(sel)?.textContent ?? "") && document.querySelector(sel)?.textContent !== "0.0", edge, { timeout: 20_000 });
    const first = await text(b, edge);
    await b.page.waitForFunction(([sel, was]) => document.querySelector(sel!)?.textContent !== was, [edge, first], { timeout: 20_000 });
    expect(await text(b, edge)).toMatch(/^[\d.]+k?$/);
    // The sleeping node's p50 is its 5 ms (and more on a loaded machine), shown in ms; the others have theirs.
    await b.page.waitForFunction(() => /ms$/.test(document.querySelector("[data-testid=p50-wait]")?.textContent ?? ""), undefined, { timeout: 20_000 });
    expect(Number.parseFloat(await text(b, "[data-testid=p50-wait]"))).toBeGreaterThanOrEqual(4.5);
    for (const id of ["a", "b", "s"]) {
      expect(await text(b, `[data-testid=p50-${id}]`)).toMatch(/^[\d.]+ (µs|ms|s)$/);
      expect(await text(b, `[data-testid=p99-${id}]`)).toMatch(/^[\d.]+ (µs|ms|s)$/);
      expect(await text(b, `[data-testid=errors-${id}]`)).toBe("0");
    }
    // The edge that carries a quarter of the epochs shows its own count, not the node rate.
    expect(await b.page.$("[data-testid='edge-rate-s.value->wait.value']")).not.toBeNull();
    await b.page.click("[data-node=wait]");
    expect(await text(b, "[data-testid=node-panel]")).toMatch(/process time\s*p50 [\d.]+ ms · p99 [\d.]+ ms/);
    await screenshot(b.page, "free-run-figures");
  }, 90_000);

  it("a tracked run's metrics plot appears and grows while it logs; two runs side by side in one chart per metric", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "tubular-dash-plot-"));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = await openStore(path.join(dir, "t.db"));
    cleanups.push(() => store.close());
    const tracker = new Tracker(store.tracking);
    const done = await tracker.start({ namespace: "tubular", project: "Demo", name: "baseline" });
    await tracker.log(done.uuid, Array.from({ length: 30 }, (_, i) => ({ name: "loss", value: 1 / (1 + i / 5), step: i })));
    await tracker.setStatus(done.uuid, "COMPLETED");
    const live = await tracker.start({ namespace: "tubular", project: "Demo", name: "tuned" });
    let step = 0;
    const logOne = () => tracker.log(live.uuid, [{ name: "loss", value: 1 / (1 + step / 3), step }, { name: "accuracy", value: 1 - 1 / (1 + step++ / 4), step: step - 1 }]);
    for (let i = 0; i < 5; i++) await logOne();
    const runner = await started({ nodes: { a: { type: "count" }, return: { type: "return", depends: "a.index" } } });
    const dash = await dashboardOf(runner, { tracking: store.tracking });
    const b = await browser();
    await b.page.goto(dash.url);
    await b.page.click("[data-testid=view-metrics]");
    await b.page.waitForSelector("[data-tracked=tuned]", { timeout: 15_000 });
    await b.page.click("[data-tracked=tuned]");
    await b.page.waitForSelector("[data-testid=chart-loss] canvas", { timeout: 15_000 });
    await b.page.waitForFunction(() => Number(document.querySelector("[data-testid=chart-loss]")?.getAttribute("data-points")) === 5, undefined, { timeout: 15_000 });
    expect(await b.page.$("[data-testid=chart-accuracy] canvas")).not.toBeNull();
    // Live: what the run logs from now on reaches the chart without a reload.
    const logging = setInterval(() => void logOne(), 200);
    cleanups.push(async () => clearInterval(logging));
    await b.page.waitForFunction(() => Number(document.querySelector("[data-testid=chart-loss]")?.getAttribute("data-points")) >= 10, undefined, { timeout: 20_000 });
    const grown = Number(await b.page.getAttribute("[data-testid=chart-loss]", "data-points"));
    await b.page.waitForFunction((was) => Number(document.querySelector("[data-testid=chart-loss]")?.getAttribute("data-points")) > was, grown, { timeout: 20_000 });
    clearInterval(logging);
    // A second run beside it: the loss chart holds both series (its legend names both), accuracy only the one that logged it.
    await b.page.click("[data-tracked=baseline]");
    await b.page.waitForFunction(() => Number(document.querySelector("[data-testid=chart-loss]")?.getAttribute("data-points")) >= 40, undefined, { timeout: 15_000 });
    const legend = await b.page.$$eval("[data-testid=chart-loss] .u-legend .u-series", (els) => els.map((e) => e.textContent ?? ""));
    expect(legend.some((l) => l.includes("Demo/tuned"))).toBe(true);
    expect(legend.some((l) => l.includes("Demo/baseline"))).toBe(true);
    await screenshot(b.page, "tracked-metrics");
  }, 90_000);

  it("a node that fails turns red and shows its error: type, message, epoch", async () => {
    const runner = await started({
      nodes: {
        a: { type: "count", params: { start: 1, step: -1 } },
        b: { type: "divide", depends: [{ denominator: "a.index" }], params: { numerator: 6 } },
        return: { type: "return", depends: "b.value" },
      },
    });
    const dash = await dashboardOf(runner);
    const b = await browser();
    await b.page.goto(dash.url);
    await b.page.waitForSelector("[data-node=b][data-status=ready]", { timeout: 15_000 });
    await expect(runner.run(5)).rejects.toThrow(/division by zero/);
    await b.page.waitForSelector("[data-node=b][data-status=failed]", { timeout: 15_000 });
    expect(await text(b, "[data-testid=error-b]")).toMatch(/RangeError: division by zero.*@ 1/);
    const fill = await b.page.$eval("[data-node=b] rect", (el) => getComputedStyle(el).fill);
    const [red, green, blue] = (fill.match(/\d+/g) ?? []).map(Number);
    expect(red).toBeGreaterThan(200);
    expect(red! - Math.max(green!, blue!)).toBeGreaterThan(10);
    expect(await b.page.getAttribute("[data-node=a]", "data-status")).not.toBe("failed");
    await b.page.click("[data-node=b]");
    const panel = await text(b, "[data-testid=node-error]");
    expect(panel).toMatch(/RangeError/);
    expect(panel).toMatch(/at epoch 1/);
    expect(panel).toMatch(/division by zero \(6 \/ 0\)/);
    await screenshot(b.page, "node-failed");
  }, 90_000);

  it("a runner killed with -9 shows restarting, then running again, with its new pid and one restart", async () => {
    // One process per node: the test kills node b's own runner process.
    const runner = await started(
      {
        nodes: {
          a: { type: "count" },
          b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 2 }, restart: "on-failure" },
          return: { type: "return", depends: "b.value" },
        },
      },
      { processes: "per-node" },
    );
    const dash = await dashboardOf(runner);
    const b = await browser();
    await b.page.goto(dash.url);
    const failures: Error[] = [];
    runner.on("error", (e) => failures.push(e));
    await runner.start();
    cleanups.push(() => runner.stop());
    await b.page.waitForSelector("[data-node=b][data-status=running]", { timeout: 15_000 });
    await b.page.click("[data-testid=tab-hosts]");
    const pid = Number(await text(b, "[data-testid=pid-b]"));
    expect(pid).toBe(runner.status().nodes.b!.pid);
    await b.page.click("text=Graph");
    process.kill(pid, "SIGKILL");
    await b.page.waitForSelector("[data-node=b][data-status=restarting]", { timeout: 15_000 });
    await screenshot(b.page, "runner-restarting");
    await b.page.waitForSelector("[data-node=b][data-status=running]", { timeout: 30_000 });
    expect(await text(b, "[data-testid=status-b]")).toMatch(/restarts 1/);
    // Running again means epochs go through the new process.
    const epochsAfter = Number(await text(b, "[data-testid=epochs-b]"));
    await b.page.waitForFunction((was) => Number(document.querySelector("[data-testid=epochs-b]")?.textContent) > was, epochsAfter, { timeout: 15_000 });
    await b.page.click("[data-testid=tab-hosts]");
    await b.page.waitForFunction((old) => { const t = document.querySelector("[data-testid=pid-b]")?.textContent; return !!t && t !== "–" && Number(t) !== old; }, pid, { timeout: 15_000 });
    expect(failures.some((e) => /killed|SIGKILL|signal/i.test(e.message))).toBe(true);
    await b.page.click("text=Graph");
    await screenshot(b.page, "runner-restarted");
  }, 90_000);
});
