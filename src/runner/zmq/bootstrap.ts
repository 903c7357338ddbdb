/**
 * Bootstrap: how a run's runner processes come to be and become ready. It
 * owns what a run holds outside this process's memory (the run directory,
 * the command node's sockets, the ZAP handler, the runner processes) and
 * the start-up sequence: spawn (here, or on host agents), wait until each
 * runner identified and both directions of talk are proven, announce who is
 * where, init, wait until every node is ready. A restarted runner rejoins the
 * same way. What the runners say goes into the roster; the driver decides
 * what a death or an error means.
 */
import { writeFile } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { TubularError } from "../../errors.ts";
import type { Tube } from "../../graph/tube.ts";
import { makeMessage } from "../../protocol/message.ts";
import { RunDir } from "../../transport/address.ts";
import { ZapAuthenticator } from "../../transport/zap.ts";
import { CommandNode, COMMAND_ID, type CommandEndpoints, type CommandHandlers } from "./command-node.ts";
import type { Conditions } from "./conditions.ts";
import type { RunnerProcessConfig } from "../../protocol/runner-config.ts";
import { HostRegistry } from "./host-registry.ts";
import type { ResolvedZmqRunnerOptions } from "./options.ts";
import type { Placement } from "./placement.ts";
import type { Roster, RunnerRecord } from "./roster.ts";
import { runnerEntry } from "./runner-entry.ts";
import { RunnerSupervisor, type ExitInfo } from "./runner-supervisor.ts";

export interface BootstrapDeps {
  readonly tube: Tube;
  readonly placement: Placement;
  readonly options: ResolvedZmqRunnerOptions;
  readonly log: Logger;
  readonly roster: Roster;
  readonly hosts: HostRegistry;
  readonly conditions: Conditions;
  /** The run's secret: only an identify carrying it binds a runner to a connection. */
  readonly runToken: string;
  readonly handlers: CommandHandlers;
  /** Whether a runner's heartbeat thread has been heard (liveness.ts). */
  readonly heard: (runnerId: string) => boolean;
  /** A local runner process exited (the supervisor says whether it restarts it). */
  readonly onExit: (info: ExitInfo) => void;
}

export class Bootstrap {
  command: CommandNode | undefined;
  runDir: RunDir | undefined;
  runId = "";
  processes: RunnerSupervisor | undefined;
  zap: ZapAuthenticator | undefined;
  private zapRelease: (() => Promise<void>) | undefined;
  private endpoints: CommandEndpoints | undefined;
  private baseConfig: RunnerProcessConfig | undefined;
  private configFile = "";
  private trusted: string[] = [];

  constructor(private readonly deps: BootstrapDeps) {}

  /** The run directory, the command node bound (ipc, or tcp with CURVE), the runners' config written. */
  async open(): Promise<CommandNode> {
    const { options: opts, log, tube, placement } = this.deps;
    this.runDir = await RunDir.create({ prefix: "tubular-" });
    this.runId = path.basename(this.runDir.path);
    const command = new CommandNode(this.deps.handlers, log, opts.maxMessageBytes);
    this.command = command;
    const keys = opts.keys;
    if (keys) {
      // The driver's own runners share its key pair; host agents must be trusted.
      const { zap, release } = await ZapAuthenticator.acquire([keys.publicKey, ...(opts.trust ?? [])], log);
      this.zap = zap;
      this.zapRelease = release;
    }
    const tcp = opts.transport === "tcp" || opts.listen !== undefined;
    const bindHost = opts.listen ? hostOf(opts.listen) : opts.host;
    const advertise = opts.advertise ?? (opts.listen ? (bindHost === "0.0.0.0" || bindHost === "*" ? externalAddress() : bindHost) : opts.host);
    const bound = !tcp
      ? await command.bind(this.runDir.ipc("command-inbox"), this.runDir.ipc("command-outbox"))
      : await command.bind(opts.listen ?? `tcp://${bindHost}:0`, `tcp://${bindHost}:0`, keys);
    this.endpoints = tcp ? { inbox: readvertise(bound.inbox, advertise), outbox: readvertise(bound.outbox, advertise) } : bound;
    const runners: RunnerProcessConfig["runners"] = {};
    for (const [id, plan] of placement.runners) runners[id] = { id, nodes: [...plan.nodes], upstream: [...plan.upstream] };
    this.baseConfig = {
      runId: this.runId,
      runToken: this.deps.runToken,
      spec: tube.spec as Record<string, unknown>,
      file: tube.file,
      baseDir: tube.baseDir,
      input: { ...tube.input },
      runners,
      commandInbox: this.endpoints.inbox,
      commandOutbox: this.endpoints.outbox,
      outbox: tcp ? { transport: "tcp", bind: bindHost, advertise } : { transport: "ipc", dir: this.runDir.path },
      logLevel: opts.logLevel ?? (log.level as string),
      heartbeatMs: opts.heartbeatMs,
      commandTimeoutMs: opts.commandTimeoutMs,
      maxMessageBytes: command.codec.maxMessageBytes,
    };
    this.trusted = keys ? [keys.publicKey, ...(opts.trust ?? [])] : [];
    const localConfig: RunnerProcessConfig = keys ? { ...this.baseConfig, curve: { publicKey: keys.publicKey, secretKey: keys.secretKey, commandKey: keys.publicKey, trusted: this.trusted } } : this.baseConfig;
    this.configFile = path.join(this.runDir.path, "runners.json");
    await writeFile(this.configFile, JSON.stringify(localConfig), { mode: 0o600 });
    this.processes = new RunnerSupervisor(await runnerEntry(), this.deps.onExit, opts.output);
    return command;
  }

  /** Spawns every runner, here or on its host agent, and resolves once every node is ready. */
  async bringUp(): Promise<void> {
    const { options: opts, placement, roster, hosts, conditions } = this.deps;
    const command = this.command!;
    const remote = [...placement.runners.values()].filter((p) => HostRegistry.isRemote(p));
    for (const plan of placement.runners.values()) {
      if (!HostRegistry.isRemote(plan)) this.processes!.spawn(plan.id, this.configFile, { restart: plan.restart, maxRestarts: plan.maxRestarts });
    }
    const deadline = Date.now() + opts.initTimeoutMs;
    if (remote.length > 0) {
      // The hosts the graph needs must have joined; then each starts the runners placed on it.
      await conditions.until(
        "init",
        () => remote.every((p) => hosts.choose(p) !== undefined),
        deadline,
        () => `waiting for host agents: ${remote.filter((p) => !hosts.choose(p)).map((p) => `${HostRegistry.describe(p)} (for ${p.nodes.join(", ")})`).join("; ")}`,
      );
      for (const plan of remote) {
        const host = hosts.choose(plan)!;
        host.assigned++;
        roster.get(plan.id)!.host = host.name;
        const config = { ...this.baseConfig!, curve_trusted: this.trusted, command_key: opts.keys?.publicKey ?? null };
        command.sendTo(host.identity, makeMessage("spawn", COMMAND_ID, { run_id: this.runId, runner_id: plan.id, config, restart: plan.restart, max_restarts: plan.maxRestarts }));
      }
    }
    const ids = roster.ids();
    // 1. Every runner is up, hears the command outbox, and the command hears its outbox.
    await conditions.until(
      "init",
      () => ids.every((id) => this.connected(id)),
      deadline,
      () => `runner processes did not come up: ${ids.filter((id) => !this.connected(id)).map((id) => `${id} (on ${roster.get(id)!.host}${this.deps.heard(id) ? "" : "; its heartbeat thread not heard"})`).join(", ")}`,
      command.probes.waitFor(ids),
    );
    // 2. Tell everyone where everyone is, then instantiate: each runner reports ready once its upstreams have its subscription.
    this.announce();
    command.broadcast(makeMessage("init", COMMAND_ID, { first_epoch: 0 }));
    await conditions.until(
      "init",
      () => ids.every((id) => isReady(roster.get(id)!)),
      deadline,
      () => `nodes not ready: ${ids.filter((id) => !isReady(roster.get(id)!)).map((id) => `${roster.get(id)!.plan.nodes.join(", ")} (${describeState(roster.get(id)!)})`).join("; ")}`,
    );
  }

  /**
   * A restarted runner identified: once both ways are proven, tell everyone
   * where it is and initialize it at `firstEpoch`. Rejects when it does not
   * come up in time. `enabled`: the nodes enabled or disabled at run time.
   */
  async rejoin(runnerId: string, firstEpoch: number, enabled: ReadonlyMap<string, boolean>): Promise<void> {
    const command = this.command!;
    await this.deps.conditions.until("restart", () => this.connected(runnerId), Date.now() + this.deps.options.initTimeoutMs, () => `restarted runner ${runnerId} did not come up`, command.probes.waitFor([runnerId]));
    this.announce();
    command.broadcast(makeMessage("init", COMMAND_ID, { first_epoch: firstEpoch, ...(enabled.size > 0 ? { enabled: Object.fromEntries(enabled) } : {}) }));
  }

  /** A runner identified, hears the command outbox, the command hears its outbox, and its heartbeat thread is heard. */
  connected(runnerId: string): boolean {
    const r = this.deps.roster.get(runnerId);
    return r?.identity !== undefined && r.subscribed && this.command!.probes.has(runnerId) && this.deps.heard(runnerId);
  }

  private announce(): void {
    this.command!.broadcast(makeMessage("announce", COMMAND_ID, { inbox: this.endpoints!.inbox, nodes: this.deps.roster.identities() }));
  }

  /** Tells every runner to go (host agents end theirs) and waits for the local processes to exit. */
  async stopRunners(): Promise<void> {
    this.processes?.quiesce();
    this.command?.broadcast(makeMessage("deinit", COMMAND_ID, { stay: false }));
    // Host agents end what is left of this run's runners on their machines.
    for (const h of this.deps.hosts.hosts.values()) this.command?.sendTo(h.identity, makeMessage("kill", COMMAND_ID, { run_id: this.runId, runner_id: null }));
    await this.processes?.stopAll(this.deps.options.deinitTimeoutMs);
  }

  /** Closes the sockets, the ZAP handler, and removes the run directory. */
  async release(): Promise<void> {
    await this.command?.close();
    await this.zapRelease?.();
    await this.runDir?.cleanup();
  }
}

function isReady(r: RunnerRecord): boolean {
  return r.state.kind === "up" && r.state.status === "ready";
}

/** A runner's state for a message: "ready", "not started", "restarting". */
function describeState(r: RunnerRecord): string {
  return r.state.kind === "up" ? r.state.status : r.state.kind === "starting" ? "not started" : r.state.kind;
}

function hostOf(endpoint: string): string {
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:]+):/.exec(endpoint);
  if (!m) throw new TubularError("TUBULAR_ERR_TRANSPORT", `not a tcp endpoint: ${endpoint}`);
  return m[1]!;
}

/** The bound endpoint with the advertised host in place of the bind address. */
function readvertise(endpoint: string, host: string): string {
  const port = endpoint.slice(endpoint.lastIndexOf(":") + 1);
  return `tcp://${host}:${port}`;
}

/** This machine's first non-internal IPv4 address (what other machines most likely reach). */
export function externalAddress(): string {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  return "127.0.0.1";
}
