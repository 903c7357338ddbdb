/**
 * Spawning and supervising node runner processes on this machine: their
 * output reaches the driver's stderr prefixed with the runner id, their exit
 * is reported at once, and `stopAll` ends the stragglers by pid after a grace
 * period, so a run never leaves a child behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { RunnerEntry } from "./runner-entry.ts";

export interface ExitInfo {
  readonly runnerId: string;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** "exited with code 3", "was killed by SIGKILL". */
export function describeExit(info: ExitInfo): string {
  if (info.signal) return `was killed by ${info.signal}${info.signal === "SIGKILL" ? " (kill -9, or the out-of-memory killer)" : ""}`;
  return `exited with code ${info.code}`;
}

export class RunnerProcesses {
  private readonly children = new Map<string, ChildProcess>();
  private readonly exits = new Map<string, Promise<ExitInfo>>();

  constructor(
    private readonly entry: RunnerEntry,
    private readonly onExit: (info: ExitInfo) => void,
    private readonly output: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Starts `runner-main CONFIG RUNNER_ID` (see runner-entry.ts). */
  spawn(runnerId: string, configFile: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
    // TUBULAR_RUNNER_NODE_ARGS: extra node flags for runner processes (e.g. --cpu-prof when profiling).
    const extra = process.env.TUBULAR_RUNNER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...extra, ...this.entry.args, configFile, runnerId], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...env },
    });
    this.children.set(runnerId, child);
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => this.output.write(`[${runnerId}] ${line}\n`));
    }
    this.exits.set(
      runnerId,
      new Promise((resolve) => {
        child.once("exit", (code, signal) => {
          const info = { runnerId, pid: child.pid, code, signal };
          this.children.delete(runnerId);
          this.onExit(info);
          resolve(info);
        });
        child.once("error", () => {
          /* reported by the exit event */
        });
      }),
    );
    return child;
  }

  pid(runnerId: string): number | undefined {
    return this.children.get(runnerId)?.pid;
  }

  get running(): string[] {
    return [...this.children.keys()];
  }

  /** Kills one runner by its pid (tests of crashes use this too). */
  kill(runnerId: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.children.get(runnerId)?.kill(signal) ?? false;
  }

  /** Waits up to `graceMs` for every runner to exit, then kills what is left with SIGKILL and waits for it. */
  async stopAll(graceMs: number): Promise<void> {
    const all = Promise.all(this.exits.values());
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      for (const child of this.children.values()) child.kill("SIGKILL");
      await all;
    }
  }
}
