/**
 * A server under test in its own process: started from a TypeScript entry
 * (through tsx, as bin/tubular.js runs the CLI), ready when it prints one JSON
 * line, watched for its resident memory (/proc) and for an exit nobody asked
 * for, and stopped by pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface Served<Ready> {
  child: ChildProcess;
  ready: Ready;
  /** stderr so far, for failure messages. */
  stderr(): string;
  /** Set when the process exited before stop() was called. */
  unexpectedExit(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resident set size now, in bytes. */
  rss(): number;
  /** Largest RSS seen by the sampler. */
  peakRss(): number;
  stop(): Promise<void>;
}

/** Resident set size of a process, in bytes (Linux). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export interface ServeOptions<Ready> {
  timeoutMs?: number;
  sampleMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Reads readiness from stderr instead: the first match of this pattern, turned into Ready. */
  readyOnStderr?: { pattern: RegExp; parse(match: RegExpExecArray): Ready };
}

/**
 * Runs `node --import tsx <entry> ...args` (entry may also be bin/tubular.js)
 * and resolves once it is ready: by default when its first stdout line
 * arrives, parsed as JSON (within `timeoutMs`).
 */
export async function serveProcess<Ready>(entry: string, args: string[] = [], opts: ServeOptions<Ready> = {}): Promise<Served<Ready>> {
  const child = spawn(process.execPath, ["--import", "tsx", entry, ...args], {
    cwd: projectRoot,
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  let stopping = false;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stderr!.setEncoding("utf8").on("data", (d: string) => {
    stderr = (stderr + d).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) =>
    child.once("exit", (code, signal) => {
      if (!stopping) exit = { code, signal };
      resolve();
    }),
  );
  const ready = await new Promise<Ready>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${entry} did not get ready within ${opts.timeoutMs ?? 60_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    if (opts.readyOnStderr) {
      const { pattern, parse } = opts.readyOnStderr;
      child.stdout!.resume();
      child.stderr!.on("data", function onData() {
        const m = pattern.exec(stderr);
        if (!m) return;
        clearTimeout(timer);
        child.stderr!.off("data", onData);
        resolve(parse(m));
      });
    } else child.stdout!.setEncoding("utf8").on("data", function onData(d: string) {
      out += d;
      const nl = out.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.stdout!.resume();
      try {
        resolve(JSON.parse(out.slice(0, nl)) as Ready);
      } catch (err) {
        reject(err);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${entry} exited (${code}) before it was ready\n${stderr}`));
    });
  });
  let peak = 0;
  const sample = () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        peak = Math.max(peak, rssOf(child.pid!));
      } catch {
        // exited between the check and the read
      }
    }
  };
  sample();
  const sampler = setInterval(sample, opts.sampleMs ?? 100);
  sampler.unref();
  return {
    child,
    ready,
    stderr: () => stderr,
    unexpectedExit: () => exit,
    rss: () => rssOf(child.pid!),
    peakRss: () => (sample(), peak),
    async stop() {
      clearInterval(sampler);
      if (child.exitCode !== null || child.signalCode !== null) return;
      stopping = true;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
