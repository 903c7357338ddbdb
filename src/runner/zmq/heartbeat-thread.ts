/**
 * HeartbeatThread: the main-thread side of a node runner's heartbeat thread
 * (heartbeat-worker.ts). Liveness must not depend on nodes yielding: the
 * thread answers for the process while a node computes without a break. The
 * main thread gives it the heartbeat's bytes (`beat`) whenever it runs; the
 * bytes carry the main thread's last timestamp, so the command can tell a
 * busy runner from an idle one. The thread does not keep the process alive.
 */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";

/** What the worker is started with (its `workerData`). */
export interface HeartbeatWorkerData {
  /** The command node's inbox. */
  readonly inbox: string;
  readonly intervalMs: number;
  /** The command silent this long is gone: the runner shuts down. */
  readonly commandTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** CURVE: the runner's own key pair and the command's public key, as the runner's control connection uses. */
  readonly curve?: { readonly publicKey: string; readonly secretKey: string; readonly commandKey: string };
}

export type ToHeartbeatWorker = { kind: "beat"; frame: Uint8Array } | { kind: "stop" };
export type FromHeartbeatWorker = { kind: "command-gone"; silentMs: number };

export interface HeartbeatThreadHandlers {
  /** The command node has been silent for the timeout. */
  commandGone(silentMs: number): void;
  /** The thread ended on its own (an error): the process can no longer prove it is alive. */
  failed(err: Error): void;
}

export class HeartbeatThread {
  private readonly worker: Worker;
  private stopping = false;

  constructor(script: string, data: HeartbeatWorkerData, handlers: HeartbeatThreadHandlers, log: Logger) {
    this.worker = new Worker(script, { workerData: data, stdout: false, stderr: false });
    this.worker.unref();
    this.worker.on("message", (msg: FromHeartbeatWorker) => {
      if (msg.kind === "command-gone") handlers.commandGone(msg.silentMs);
    });
    let error: Error | undefined;
    this.worker.on("error", (err) => {
      log.error({ err }, "the heartbeat thread failed");
      error = err;
    });
    this.worker.on("exit", (code) => {
      if (!this.stopping) handlers.failed(error ?? new Error(`the heartbeat thread exited with code ${code}`));
    });
  }

  /** The heartbeat to send from now on (one encoded frame). */
  beat(frame: Buffer): void {
    // A copy: an encoder's frame may be a view of a much larger buffer, and a view is cloned with all of it.
    if (!this.stopping) this.worker.postMessage({ kind: "beat", frame: new Uint8Array(frame) } satisfies ToHeartbeatWorker);
  }

  /** Stops the thread; resolves once it has ended. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.postMessage({ kind: "stop" } satisfies ToHeartbeatWorker);
    const timer = setTimeout(() => void this.worker.terminate(), 500);
    await exited;
    clearTimeout(timer);
  }
}

/** heartbeat-worker next to this module, as .ts or .js like it (a bundled runner is told the path instead: runner-entry.ts). */
export function defaultHeartbeatWorker(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `heartbeat-worker${path.extname(here)}`);
}
