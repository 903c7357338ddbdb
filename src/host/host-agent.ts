/**
 * HostAgent: joins a command node from another machine, reports its
 * resources, and starts (and restarts) the node runners placed on it.
 *
 * It is a DEALER on the command node's inbox, a CurveZMQ client that knows
 * the command's public key: only that command can give it work. Its work is a
 * `spawn` of a runner with its configuration; the node types in it resolve
 * from this machine's own library and module folder, never from code sent
 * over the network. The source of the work is the message, not the socket,
 * so a job registry can later hand out the same spawns.
 *
 * When the command node goes silent, the agent stops its runners after a
 * grace period and goes back to waiting; ZeroMQ keeps reconnecting, with
 * backoff, and the agent says hello again when the command answers.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { clientSender, openSocket, readLoop, type Client } from "../transport/sockets.ts";
import { Codec } from "../protocol/codec.ts";
import { DropCounter } from "../protocol/drops.ts";
import type { Resources, RunnerReport } from "../protocol/command-to-host.ts";
import { residentBytes } from "./resident-memory.ts";
import { makeMessage, type Message, type MessageOf } from "../protocol/message.ts";
import { SendQueue } from "../transport/send-queue.ts";
import { curveClientOptions, type CurveKeyPair } from "../transport/curve.ts";
import { RunnerProcessConfig } from "../protocol/runner-config.ts";
import { runnerEntry } from "../runner/zmq/runner-entry.ts";
import { RunnerSupervisor, type ExitInfo } from "../runner/zmq/runner-supervisor.ts";
import { readGpus, snapshot } from "./resources.ts";

export interface HostAgentOptions {
  /** The command node's inbox, e.g. tcp://10.0.0.1:5555. */
  connect: string;
  name: string;
  labels?: string[];
  /** This host's key pair. */
  keys: CurveKeyPair;
  /** The command node's public key (z85). */
  commandKey: string;
  /** The address other machines reach this one at; runner outboxes advertise it. */
  advertise: string;
  /** The folder relative module node types resolve from. Default: the working directory. */
  modules?: string;
  /** Runners are stopped this long after the command node went silent. Default 3 s. */
  graceMs?: number;
  heartbeatMs?: number;
  logger: Logger;
  /** Where runner output goes. Default: stderr. */
  output?: NodeJS.WritableStream;
}

interface RunnerState {
  runId: string;
  runnerId: string;
  state: RunnerReport["state"];
}

export class HostAgent {
  private readonly options: Required<Omit<HostAgentOptions, "labels" | "output">> & HostAgentOptions;
  private readonly log: Logger;
  private readonly codec: Codec;
  private readonly socket: Client;
  private readonly queue: SendQueue;
  private supervisor: RunnerSupervisor | undefined;
  private readonly runners = new Map<string, RunnerState>();
  private gpus: Resources["gpus"] = [];
  private lastCommandAt = 0;
  private welcomed = false;
  private timer: NodeJS.Timeout | undefined;
  private workDir = "";
  private closed = false;

  constructor(options: HostAgentOptions) {
    this.options = { modules: process.cwd(), graceMs: 3000, heartbeatMs: 500, ...options };
    this.log = options.logger.child({ component: "host-agent", host: options.name });
    this.codec = new Codec({ drops: new DropCounter(this.log) });
    this.socket = openSocket("client", this.codec.maxMessageBytes, {
      linger: 500,
      // Reconnect after 100 ms, backing off to 5 s while the command node is away.
      reconnectInterval: 100,
      reconnectMaxInterval: 5000,
      ...curveClientOptions(options.keys, options.commandKey),
    });
    this.queue = new SendQueue(clientSender(this.socket), (err) => this.log.warn({ err }, "send failed"));
  }

  /** Connects and serves until `close()`. */
  async start(): Promise<void> {
    this.workDir = await mkdtemp(path.join(os.tmpdir(), `tubular-host-${this.options.name}-`));
    this.gpus = await readGpus();
    this.supervisor = new RunnerSupervisor(await runnerEntry(), (info) => this.onExit(info), this.options.output);
    this.socket.connect(this.options.connect);
    void this.read();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.options.heartbeatMs);
    this.log.info({ connect: this.options.connect, labels: this.options.labels ?? [] }, "host agent waiting for work");
  }

  /** Runner states, for status reports. */
  report(): RunnerReport[] {
    return [...this.runners.values()].map((r) => {
      const pid = this.supervisor?.pid(this.key(r.runId, r.runnerId)) ?? null;
      return { run_id: r.runId, runner_id: r.runnerId, pid, state: r.state, restarts: this.supervisor?.restarts(this.key(r.runId, r.runnerId)) ?? 0, rss_bytes: residentBytes(pid) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.stopRunners();
    await Promise.race([this.queue.drained(), new Promise((r) => setTimeout(r, 300))]);
    this.socket.close();
    await rm(this.workDir, { recursive: true, force: true });
  }

  private key(runId: string, runnerId: string): string {
    return `${runId}/${runnerId}`;
  }

  private send(msg: Message): void {
    if (!this.closed) this.queue.send(this.codec.encode(msg));
  }

  private tick(): void {
    const silent = Date.now() - this.lastCommandAt;
    if (this.welcomed && silent > this.options.graceMs) {
      this.log.warn({ silentMs: silent }, "the command node is gone; stopping its runners and waiting for it");
      this.welcomed = false;
      void this.stopRunners();
    }
    const id = `host:${this.options.name}`;
    const resources = snapshot(this.gpus);
    // Until the command node answers, say hello: it may be new, or back after a restart.
    if (!this.welcomed) this.send(makeMessage("host_hello", id, { name: this.options.name, labels: this.options.labels ?? [], resources, pid: process.pid, runners: this.report() }));
    else this.send(makeMessage("host_status", id, { resources, runners: this.report() }));
  }

  private read(): Promise<void> {
    return readLoop(this.socket, { maxFrames: 1, drops: this.codec.drops, log: this.log, name: "connection to the command node", onMessage: (frames) => this.onMessage(frames) });
  }

  private async onMessage(frames: Buffer[]): Promise<void> {
    const msg = this.codec.decodeSafe(frames);
    if (!msg) return;
    this.lastCommandAt = Date.now();
    if (!this.welcomed) {
      this.welcomed = true;
      this.log.info("joined the command node");
    }
    if (msg.type === "spawn") await this.onSpawn(msg);
    else if (msg.type === "kill") await this.onKill(msg);
  }

  private async onSpawn(msg: MessageOf<"spawn">): Promise<void> {
    const v = msg.value;
    const { curve_trusted, command_key, ...rest } = v.config;
    const parsed = RunnerProcessConfig.safeParse({
      ...rest,
      // This machine's own module folder, address and keys; nothing of the driver's.
      baseDir: this.options.modules,
      outbox: { transport: "tcp", bind: "0.0.0.0", advertise: this.options.advertise },
      curve: { publicKey: this.options.keys.publicKey, secretKey: this.options.keys.secretKey, commandKey: command_key ?? this.options.commandKey, trusted: curve_trusted },
    });
    if (!parsed.success) {
      this.log.error({ runner: v.runner_id, issue: parsed.error.issues[0] }, "refused a spawn with an invalid configuration");
      return;
    }
    const key = this.key(v.run_id, v.runner_id);
    const file = path.join(this.workDir, `${v.run_id}-${v.runner_id.replace(/[^A-Za-z0-9_.-]/g, "_")}.json`);
    await writeFile(file, JSON.stringify(parsed.data), { mode: 0o600 });
    this.runners.set(key, { runId: v.run_id, runnerId: v.runner_id, state: "starting" });
    this.supervisor!.spawn(key, file, { runnerId: v.runner_id, restart: v.restart, maxRestarts: v.max_restarts });
    this.runners.get(key)!.state = "running";
    this.log.info({ run: v.run_id, runner: v.runner_id }, "started a runner");
  }

  private async onKill(msg: MessageOf<"kill">): Promise<void> {
    const { run_id, runner_id } = msg.value;
    const keys = [...this.runners.values()].filter((r) => r.runId === run_id && (runner_id === null || r.runnerId === runner_id)).map((r) => this.key(r.runId, r.runnerId));
    await Promise.all(keys.map((k) => this.supervisor?.stop(k, 2000)));
    for (const k of keys) this.runners.delete(k);
  }

  private async stopRunners(): Promise<void> {
    const keys = [...this.runners.keys()];
    await Promise.all(keys.map((k) => this.supervisor?.stop(k, 1000)));
    this.runners.clear();
  }

  private onExit(info: ExitInfo): void {
    const r = this.runners.get(info.runnerId);
    if (!r) return;
    r.state = info.restarting ? "restarting" : "exited";
    this.send(
      makeMessage("runner_exit", `host:${this.options.name}`, {
        run_id: r.runId,
        runner_id: r.runnerId,
        pid: info.pid ?? null,
        code: info.code,
        signal: info.signal,
        restarting: info.restarting,
        restarts: info.restarts,
      }),
    );
    if (!info.restarting) this.runners.delete(info.runnerId);
    else setTimeout(() => r.state === "restarting" && (r.state = "running"), info.delayMs);
  }
}
