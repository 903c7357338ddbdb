import type { ChildProcess } from "node:child_process";
import { until } from "./until.ts";

/** Whether a process is alive, and waiting for a set of them to exit. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves with the pids still alive once all exited or `timeoutMs` passed (never rejects: callers assert on the list). */
export async function waitForExit(pids: number[], timeoutMs: number): Promise<number[]> {
  await until(() => !pids.some(isAlive), timeoutMs, "the processes to exit").catch(() => undefined);
  return pids.filter(isAlive);
}

/** Ends a child we started: SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts test/fixtures/drivers/hold-runner.ts (a driver that inits a run and
 * holds it) and waits for the first line it prints: its runners' pids and run
 * directory. `args` go to the driver (e.g. "busy").
 */
export async function startHoldingDriver(projectRoot: string, args: string[] = []): Promise<{ driver: ChildProcess; pids: number[]; runDirectory: string }> {
  const { spawn } = await import("node:child_process");
  const script = `${projectRoot}/test/fixtures/drivers/hold-runner.ts`;
  const driver = spawn(process.execPath, ["--import", "tsx", script, ...args], { cwd: projectRoot, stdio: ["ignore", "pipe", "ignore"] });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = "";
    driver.stdout!.on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) resolve(buf.split("\n")[0]!);
    });
    driver.once("exit", () => reject(new Error("driver exited early")));
  });
  const { pids, runDirectory } = JSON.parse(line) as { pids: Record<string, number>; runDirectory: string };
  return { driver, pids: Object.values(pids), runDirectory };
}
