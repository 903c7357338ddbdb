/**
 * HostSide: the driver's side of the host agents. It owns the registry of the
 * agents that joined and their liveness: a `host_hello` admits an agent (only
 * on a run that listens for them), `host_status` refreshes what it reports,
 * `runner_exit` is its word that one of its runners died; an agent gone silent
 * loses every runner placed on it. What a runner's death means is Recovery's.
 */
import type { Logger } from "pino";
import { makeMessage, type MessageOf } from "../../protocol/message.ts";
import type { RunStatus } from "../../protocol/status-report.ts";
import { HeartbeatMonitor } from "../../transport/heartbeat.ts";
import { COMMAND_ID, type CommandNode } from "./command-node.ts";
import type { Conditions } from "./conditions.ts";
import { HostRegistry } from "./host-registry.ts";
import type { Roster } from "./roster.ts";
import { describeExit } from "./runner-supervisor.ts";

export type HostMessage = MessageOf<"host_hello" | "host_status" | "runner_exit">;

export interface HostSideDeps {
  /** Whether the run listens for host agents (`listen`): elsewhere a hello is a stranger's. */
  readonly listening: boolean;
  readonly heartbeatMs: number;
  readonly roster: Roster;
  readonly conditions: Conditions;
  readonly log: Logger;
  command(): CommandNode | undefined;
  /** The run's id: a host's `runner_exit` names it. */
  runId(): string;
  /** A runner placed on a host died (`restarting`: its agent starts a new one). */
  runnerDown(runnerId: string, how: string, restarting: boolean): void;
}

export class HostSide {
  readonly hosts = new HostRegistry();
  private readonly heartbeats: HeartbeatMonitor;

  constructor(private readonly deps: HostSideDeps) {
    this.heartbeats = new HeartbeatMonitor({
      timeoutMs: Math.max(2000, deps.heartbeatMs * 8),
      onDead: (name, silentMs) => this.lost(name, `host agent "${name}" stopped answering (silent for ${silentMs} ms)`),
    });
  }

  /** A message from a host agent on inbox connection `from`. */
  onMessage(from: string, msg: HostMessage): void {
    const { roster, log } = this.deps;
    const command = this.deps.command();
    if (msg.type === "host_hello") {
      // Host agents exist only where the run listens for them, and then every connection passed
      // CURVE with a trusted key (ZAP). Elsewhere a hello is a stranger's.
      if (!this.deps.listening || msg.value.name === "driver" || roster.onConnection(from) !== undefined) {
        command?.codec.drops.record("schema", `a host_hello naming "${msg.value.name}" on a run that does not take that host`);
        return;
      }
      const host = this.hosts.hello(from, msg.value, Date.now());
      this.heartbeats.seen(host.name);
      command?.sendTo(from, makeMessage("heartbeat", COMMAND_ID, null));
      log.info({ host: host.name, labels: host.labels }, "host agent joined");
      this.deps.conditions.changed();
      return;
    }
    const host = this.hosts.byIdentity(from);
    if (!host) {
      command?.codec.drops.record("schema", `a ${msg.type} message from a host that did not say hello ("${from}")`);
      return;
    }
    host.lastSeen = Date.now();
    this.heartbeats.seen(host.name);
    if (msg.type === "host_status") {
      host.resources = msg.value.resources;
      host.runners = msg.value.runners;
      return;
    }
    const v = msg.value;
    // A host speaks only for the runners placed on it.
    const record = roster.get(v.runner_id);
    if (v.run_id !== this.deps.runId() || record === undefined || record.host !== host.name) {
      command?.codec.drops.record("schema", `a runner_exit from host "${host.name}" for runner "${v.runner_id}" it does not run`);
      return;
    }
    record.restarts = v.restarts;
    this.deps.runnerDown(v.runner_id, `on host "${host.name}" (pid ${v.pid}) ${describeExit({ code: v.code, signal: v.signal as NodeJS.Signals | null })}`, v.restarting);
  }

  /** One heartbeat interval: every agent hears the command, and the silent ones are lost. */
  beat(): void {
    const command = this.deps.command();
    for (const h of this.hosts.hosts.values()) command?.sendTo(h.identity, makeMessage("heartbeat", COMMAND_ID, null));
    this.heartbeats.check();
  }

  /** The hosts as `status()` reports them. */
  report(now: number): RunStatus["hosts"] {
    const hosts: RunStatus["hosts"] = {};
    for (const h of this.hosts.hosts.values()) {
      hosts[h.name] = { labels: h.labels, resources: h.resources, pid: h.pid, alive: now - h.lastSeen < this.heartbeats.timeoutMs, runners: h.assigned };
    }
    return hosts;
  }

  /** Resident memory of runner `runnerId` of this run, as host `host` last reported it (undefined before a report). */
  runnerMemory(host: string, runnerId: string): number | null | undefined {
    const runId = this.deps.runId();
    return this.hosts.hosts.get(host)?.runners.find((r) => r.run_id === runId && r.runner_id === runnerId)?.rss_bytes;
  }

  /** An agent is unreachable: every runner placed on it is lost. */
  private lost(name: string, how: string): void {
    for (const r of this.deps.roster.all()) if (r.host === name) this.deps.runnerDown(r.id, `is unreachable: ${how}`, false);
  }
}
