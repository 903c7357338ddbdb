/**
 * Several machines through the command line, as the README tells a user (on
 * loopback: the namespace tests prove the network part): `tubular keygen`,
 * `tubular host`, `tubular run --listen --keys --trust`, `tubular status`.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadTubeFromSpec } from "../../src/spec/load.ts";
import { ZmqRunner } from "../../src/runner/zmq/zmq-runner.ts";
import { generateKeyPair, writeKeyPair, type CurveKeyPair } from "../../src/transport/curve.ts";
import { projectRoot } from "../helpers/acceptance.ts";
import { stopChild } from "../helpers/processes.ts";
import { devNull } from "../helpers/zmq-runners.ts";

const BIN = path.join(projectRoot, "bin/tubular.js");

function run(args: string[], timeoutMs = 30_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: projectRoot });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("cli - several machines on loopback", () => {
  let dir: string;
  const keys: Record<string, CurveKeyPair> = {};
  const agents: ChildProcess[] = [];
  const port = 24_000 + (process.pid % 2000);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "tubular-cli-hosts-"));
    for (const name of ["command", "h1", "operator", "stranger"]) {
      keys[name] = generateKeyPair();
      await writeKeyPair(path.join(dir, name), keys[name]!);
    }
    mkdirSync(path.join(dir, "trusted"));
    writeFileSync(path.join(dir, "trusted", "h1.key"), `${keys.h1!.publicKey}\n`);
    writeFileSync(path.join(dir, "trusted", "operator.key"), `${keys.operator!.publicKey}\n`);
    writeFileSync(
      path.join(dir, "graph.yaml"),
      ["noob_id: spread", "nodes:", "  a: { type: count, host: h1 }", "  b: { type: multiply, depends: [{ left: a.index }], params: { right: 3 } }", "  return: { type: return, depends: b.value }", ""].join("\n"),
    );
  });

  afterAll(async () => {
    await Promise.all(agents.map((a) => stopChild(a)));
    rmSync(dir, { recursive: true, force: true });
  });

  function startAgent(): ChildProcess {
    const agent = spawn(process.execPath, [BIN, "host", "--connect", `tcp://127.0.0.1:${port}`, "--name", "h1", "--keys", path.join(dir, "h1"), "--command-key", path.join(dir, "command", "public.key"), "--advertise", "127.0.0.1", "--log-level", "error"], { cwd: projectRoot, stdio: "ignore" });
    agents.push(agent);
    return agent;
  }

  it("tubular run --listen runs a node on a host agent, and prints the values", async () => {
    const agent = startAgent();
    const out = await run(["run", path.join(dir, "graph.yaml"), "--epochs", "4", "--json", "--listen", `tcp://127.0.0.1:${port}`, "--keys", path.join(dir, "command"), "--trust", path.join(dir, "trusted"), "--advertise", "127.0.0.1"]);
    await stopChild(agent);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout.trim().split("\n").map((l) => JSON.parse(l))).toEqual([0, 1, 2, 3].map((i) => ({ epoch: i, value: 3 * i })));
  }, 60_000);

  it("tubular status shows the hosts and each node's host, pid and epochs", async () => {
    const agent = startAgent();
    const tube = await loadTubeFromSpec({ noob_id: "spread", nodes: { a: { type: "count", host: "h1" }, b: { type: "multiply", depends: [{ left: "a.index" }], params: { right: 3 } }, return: { type: "return", depends: "b.value" } } }, { baseDir: projectRoot });
    const runner = new ZmqRunner(tube, { listen: `tcp://127.0.0.1:${port + 1}`, keys: keys.command!, trust: [keys.h1!.publicKey, keys.operator!.publicKey], output: devNull });
    const init = runner.init();
    const agent2 = spawn(process.execPath, [BIN, "host", "--connect", `tcp://127.0.0.1:${port + 1}`, "--name", "h1", "--keys", path.join(dir, "h1"), "--command-key", keys.command!.publicKey, "--advertise", "127.0.0.1", "--log-level", "error"], { cwd: projectRoot, stdio: "ignore" });
    agents.push(agent2);
    try {
      await init;
      for (let i = 0; i < 5; i++) await runner.process();
      const out = await run(["status", "--connect", `tcp://127.0.0.1:${port + 1}`, "--keys", path.join(dir, "operator"), "--command-key", path.join(dir, "command", "public.key"), "--json"]);
      expect(out.code).toBe(0);
      const status = JSON.parse(out.stdout) as { hosts: Record<string, { alive: boolean }>; nodes: Record<string, { host: string; pid: number; epochs: number; status: string }> };
      expect(status.hosts.h1?.alive).toBe(true);
      expect(status.nodes.a).toMatchObject({ host: "h1", epochs: 5, status: "ready" });
      expect(status.nodes.a!.pid).toBeGreaterThan(0);
      expect(status.nodes.b).toMatchObject({ host: "driver", epochs: 5 });
      // A key the command does not trust gets no answer.
      const refused = await run(["status", "--connect", `tcp://127.0.0.1:${port + 1}`, "--keys", path.join(dir, "stranger"), "--command-key", keys.command!.publicKey, "--timeout", "1000"]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/no answer/);
    } finally {
      await runner.deinit();
      await Promise.all([stopChild(agent), stopChild(agent2)]);
    }
  }, 60_000);
});
