/** Runs the real `tubular` command (node bin/tubular.js) and collects what it printed. */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { projectRoot } from "./acceptance.ts";

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function tubular(args: readonly string[], options: { cwd?: string; timeoutMs?: number; env?: Record<string, string> } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(projectRoot, "bin/tubular.js"), ...args], {
      cwd: options.cwd ?? projectRoot,
      env: { ...process.env, NO_COLOR: "1", ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tubular ${args.join(" ")} timed out\n${stderr}`));
    }, options.timeoutMs ?? 20_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The `--json` lines of a run. */
export function jsonLines(stdout: string): Array<{ epoch: number; value: unknown }> {
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as { epoch: number; value: unknown });
}

export interface StartedTubular {
  child: ChildProcess;
  /** The match of `ready` in what the process printed on stderr. */
  match: RegExpExecArray;
  /** Everything printed on stderr so far. */
  output: () => string;
}

/**
 * Starts a long-running `tubular` command (serve, host) and resolves once its stderr matches
 * `ready`; rejects if it exits first or does not get there in `timeoutMs` (start-up under the
 * TypeScript loader takes seconds on a loaded machine; one that overruns is killed). The caller
 * stops a child that started.
 */
export function startTubular(args: readonly string[], ready: RegExp, options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<StartedTubular> {
  const child = spawn(process.execPath, [path.join(projectRoot, "bin/tubular.js"), ...args], { env: { ...process.env, ...options.env }, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  return new Promise((resolve, reject) => {
    // A process that never got ready is ended here: the caller has no child to stop.
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`tubular ${args[0]} did not start:\n${err}`));
    }, options.timeoutMs ?? 60_000);
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      const m = ready.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => err });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`tubular ${args[0]} exited with ${code}:\n${err}`));
    });
  });
}
