/**
 * `tubular run --track`, `tubular runs` and `tubular runs show --plot` as a
 * user runs them, over a real SQLite file: node metrics through ctx.log, the
 * runtime's per-epoch figures, CRASHED on a node error, FAILED for a run whose
 * process died, plots that are valid PNG / SVG with one line per metric.
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.ts";

const BIN = fileURLToPath(new URL("../../bin/tubular.js", import.meta.url));
const FIX = fileURLToPath(new URL("../fixtures/tracking/", import.meta.url));

function tubular(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

// Each CLI call starts a Node process with the TypeScript loader: seconds each on a loaded machine.
describe("tracking - tubular run --track and tubular runs", { timeout: 180_000 }, () => {
  let dir: string;
  let db: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "tubular-track-"));
    db = path.join(dir, "t.db");
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("tracks a run with the nodes' ctx.log metrics and the runtime's per-epoch figures", async () => {
    const r = await tubular(["run", path.join(FIX, "loss.yaml"), "--runner", "local", "--epochs", "6", "--track", "demo", "--run-name", "exp", "--db", db, "--quiet"]);
    expect(r.stderr).toContain("tracking run exp in project demo");
    expect(r.code).toBe(0);
    const again = await tubular(["run", path.join(FIX, "loss.yaml"), "--runner", "local", "--epochs", "2", "--track", "demo", "--run-name", "exp", "--db", db, "--quiet"]);
    expect(again.stderr).toContain("tracking run exp_1 in project demo");
    const show = await tubular(["runs", "show", "exp", "--db", db, "--json"]);
    expect(show.code).toBe(0);
    const run = JSON.parse(show.stdout) as { status: string; project: string; metrics: Array<{ name: string; value: number; step: number }> };
    expect(run).toMatchObject({ status: "COMPLETED", project: "demo" });
    const of = (name: string) => run.metrics.filter((m) => m.name === name);
    expect(of("loss").map((m) => [m.step, m.value])).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, 1 / (i + 1)]));
    expect(of("custom_step").map((m) => m.step)).toEqual([100, 101, 102, 103, 104, 105]);
    expect(of("epochs").map((m) => m.value)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const name of ["epochs_per_s", "latency_ms"]) {
      expect(of(name)).toHaveLength(6);
      for (const m of of(name)) expect(m.value).toBeGreaterThan(0);
    }
    const list = await tubular(["runs", "--project", "demo", "--db", db]);
    expect(list.stdout).toMatch(/exp_1\s+demo\s+COMPLETED/);
    expect(list.stdout).toMatch(/exp\s+demo\s+COMPLETED/);
  });

  it("ctx.log of nodes in ZeroMQ runner processes reaches the tracked run", async () => {
    const r = await tubular(["run", path.join(FIX, "loss.yaml"), "--runner", "zmq", "--processes", "per-node", "--epochs", "4", "--track", "demo", "--run-name", "remote", "--db", db, "--quiet"]);
    expect(r.stderr).toContain("tracking run remote in project demo");
    expect(r.code).toBe(0);
    const show = await tubular(["runs", "show", "remote", "--db", db, "--json"]);
    const run = JSON.parse(show.stdout) as { status: string; metrics: Array<{ name: string; value: number; step: number }> };
    expect(run.status).toBe("COMPLETED");
    const of = (name: string) => run.metrics.filter((m) => m.name === name).sort((x, y) => x.step - y.step);
    expect(of("loss").map((m) => [m.step, m.value])).toEqual([0, 1, 2, 3].map((i) => [i, 1 / (i + 1)]));
    expect(of("custom_step").map((m) => [m.step, m.value])).toEqual([0, 1, 2, 3].map((i) => [i + 100, i * 10]));
    expect(of("epochs").map((m) => m.value)).toEqual([1, 2, 3, 4]);
  });

  it("a node's unhandled error makes the run CRASHED", async () => {
    const r = await tubular(["run", path.join(FIX, "crash.yaml"), "--runner", "local", "--epochs", "5", "--track", "demo", "--run-name", "crashy", "--db", db, "--quiet"]);
    expect(r.code).toBe(1);
    const show = JSON.parse((await tubular(["runs", "show", "crashy", "--db", db, "--json"])).stdout) as { status: string; metrics: Array<{ name: string }> };
    expect(show.status).toBe("CRASHED");
    expect(show.metrics.filter((m) => m.name === "epochs")).toHaveLength(2);
  });

  it("a run left RUNNING by a process that died is FAILED at the next start", async () => {
    // A tracked free-run with no end, killed with SIGKILL once its run is recorded.
    const child = spawn(process.execPath, [BIN, "run", path.join(FIX, "loss.yaml"), "--runner", "local", "--free-run", "--track", "demo", "--run-name", "killed", "--db", db, "--quiet"], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const end = Date.now() + 30_000;
    while (!err.includes("tracking run killed")) {
      if (Date.now() > end) throw new Error(`the tracked run did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    const store = await openStore(db);
    try {
      const [before] = await store.tracking.listTrackedRuns({ name: "killed" });
      expect(before!.status).toBe("RUNNING");
    } finally {
      await store.close();
    }
    await tubular(["run", path.join(FIX, "loss.yaml"), "--runner", "local", "--epochs", "1", "--track", "demo", "--db", db, "--quiet"]);
    const show = JSON.parse((await tubular(["runs", "show", "killed", "--db", db, "--json"])).stdout) as { status: string };
    expect(show.status).toBe("FAILED");
  });

  it("--plot writes a valid PNG and an SVG with one line per metric; other extensions are refused", async () => {
    const png = path.join(dir, "exp.png");
    const svg = path.join(dir, "exp.svg");
    expect((await tubular(["runs", "show", "exp", "--db", db, "--plot", png])).code).toBe(0);
    const bytes = await readFile(png);
    expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(bytes.subarray(12, 16).toString("latin1")).toBe("IHDR");
    const shown = await tubular(["runs", "show", "exp", "--db", db, "--plot", svg]);
    expect(shown.stdout).toMatch(/METRIC\s+STEP\s+VALUE/);
    const text = await readFile(svg, "utf8");
    const lines = [...text.matchAll(/<g class="mark-line role-mark[^"]*"[^>]*>(.*?)<\/g>/g)].map((m) => (m[1]!.match(/<path/g) ?? []).length);
    expect(lines).toEqual([1, 1, 1, 1, 1]);
    const bad = await tubular(["runs", "show", "exp", "--db", db, "--plot", path.join(dir, "exp.jpg")]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("TUBULAR_ERR_PLOT");
    const missing = await tubular(["runs", "show", "nope", "--db", db]);
    expect(missing.stderr).toContain("TUBULAR_ERR_TRACKING_NOT_FOUND");
  });
});
