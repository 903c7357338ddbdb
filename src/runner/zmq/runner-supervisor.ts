/**
 * RunnerSupervisor: starts node runner processes on this machine and keeps
 * them running as their restart policy says. Used by the driver for the
 * runners placed on its own machine and by host agents for theirs. Output
 * reaches this process's stderr prefixed with the runner id; every exit is
 * reported at once; `stopAll` ends stragglers by pid after a grace period,
 * so nothing is left behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { RunnerEntry } from "./runner-entry.ts";

export type RestartPolicy = "never" | "on-failure" | "always";

export interface ExitInfo {
  readonly runnerId: string;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** The supervisor starts it again (after `delayMs`). */
  readonly restarting: boolean;
  /** Restarts so far, this one included. */
  readonly restarts: number;
  readonly delayMs: number;
}

export interface SuperviseOptions {
  /** The runner id the process is started with, when the supervisor's key is another (a host agent keys by run too). */
  runnerId?: string;
  restart?: RestartPolicy;
  maxRestarts?: number;
  env?: NodeJS.ProcessEnv;
}

/** "exited with code 3", "was killed by SIGKILL". */
export function describeExit(info: Pick<ExitInfo, "code" | "signal">): string {
  if (info.signal) return `was killed by ${info.signal}${info.signal === "SIGKILL" ? " (kill -9, or the out-of-memory killer)" : ""}`;
  return `exited with code ${info.code}`;
}

/** First restart after 250 ms, doubling up to 8 s. */
export function restartDelay(restarts: number): number {
  return Math.min(8000, 250 * 2 ** Math.max(0, restarts - 1));
}

interface Supervised {
  readonly configFile: string;
  readonly options: SuperviseOptions;
  child: ChildProcess | undefined;
  restarts: number;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

export class RunnerSupervisor {
  private readonly runners = new Map<string, Supervised>();
  private stopping = false;

  constructor(
    private readonly entry: RunnerEntry,
    private readonly onExit: (info: ExitInfo) => void,
    private readonly output: NodeJS.WritableStream = process.stderr,
  ) {}

  /** Starts `runner-main CONFIG RUNNER_ID` (see runner-entry.ts) and supervises it. */
  spawn(runnerId: string, configFile: string, options: SuperviseOptions = {}): void {
    const s: Supervised = { configFile, options, child: undefined, restarts: 0, timer: undefined, exited: Promise.resolve() };
    this.runners.set(runnerId, s);
    this.start(runnerId, s);
  }

  private start(runnerId: string, s: Supervised): void {
    // TUBULAR_RUNNER_NODE_ARGS: extra node flags for runner processes (e.g. --cpu-prof when profiling).
    const extra = process.env.TUBULAR_RUNNER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const child = spawn(process.execPath, [...extra, ...this.entry.args, s.configFile, s.options.runnerId ?? runnerId, ...(this.entry.heartbeatWorker ? [this.entry.heartbeatWorker] : [])], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...s.options.env },
    });
    s.child = child;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on("line", (line) => this.output.write(`[${runnerId}] ${line}\n`));
    }
    s.exited = new Promise((resolve) => {
      child.once("error", () => {
        /* reported by the exit event */
      });
      child.once("exit", (code, signal) => {
        s.child = undefined;
        const policy = s.options.restart ?? "never";
        const failed = signal !== null || code !== 0;
        const restarting = !this.stopping && this.runners.get(runnerId) === s && (policy === "always" || (policy === "on-failure" && failed)) && s.restarts < (s.options.maxRestarts ?? 3);
        if (restarting) s.restarts++;
        const delayMs = restarting ? restartDelay(s.restarts) : 0;
        this.onExit({ runnerId, pid: child.pid, code, signal, restarting, restarts: s.restarts, delayMs });
        if (restarting) {
          s.timer = setTimeout(() => {
            s.timer = undefined;
            if (!this.stopping && this.runners.get(runnerId) === s) this.start(runnerId, s);
          }, delayMs);
        } else this.runners.delete(runnerId);
        resolve();
      });
    });
  }

  pid(runnerId: string): number | undefined {
    return this.runners.get(runnerId)?.child?.pid;
  }

  restarts(runnerId: string): number {
    return this.runners.get(runnerId)?.restarts ?? 0;
  }

  /** Runner ids supervised now (running or waiting to restart). */
  get supervised(): string[] {
    return [...this.runners.keys()];
  }

  /** Sends a signal to one runner by its pid (a crash test uses SIGKILL); its policy decides what follows. */
  kill(runnerId: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.runners.get(runnerId)?.child?.kill(signal) ?? false;
  }

  /** Stops supervising one runner and ends it (SIGTERM, then SIGKILL after `graceMs`). */
  async stop(runnerId: string, graceMs: number): Promise<void> {
    const s = this.runners.get(runnerId);
    if (!s) return;
    this.runners.delete(runnerId);
    clearTimeout(s.timer);
    await this.end([s], graceMs);
  }

  /** From now on nothing is restarted (the runners are about to be told to exit). */
  quiesce(): void {
    this.stopping = true;
  }

  /**
   * Waits up to `graceMs` for every runner to exit (they were told to), then
   * sends SIGTERM, and SIGKILL a moment later, to what is left, by pid.
   */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    const all = [...this.runners.values()];
    for (const s of all) clearTimeout(s.timer);
    await this.end(all, graceMs);
    this.runners.clear();
  }

  private async end(list: Supervised[], graceMs: number): Promise<void> {
    const exited = Promise.all(list.map((s) => s.exited));
    const wait = (ms: number) =>
      new Promise<boolean>((r) => {
        const t = setTimeout(() => r(true), ms);
        void exited.then(() => (clearTimeout(t), r(false)));
      });
    if (!(await wait(graceMs))) return;
    for (const s of list) s.child?.kill("SIGTERM");
    if (!(await wait(500))) return;
    for (const s of list) s.child?.kill("SIGKILL");
    await exited;
  }
}
