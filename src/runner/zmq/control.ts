/**
 * Control: what arrives on the command inbox, dispatched. Host agents' words
 * go to HostSide, heartbeats to liveness, an operator's status request is
 * answered; everything else must come from a runner on the connection it
 * identified on (an identify binds a connection only with the run's token)
 * and updates the roster, the node table or the run. A failure outside any
 * epoch (a node's init) is kept here as the run's init error.
 */
import type { Logger } from "pino";
import type { NodeError } from "../../errors.ts";
import { makeMessage, type MessageOf } from "../../protocol/message.ts";
import { nodeErrorFromWire } from "../../protocol/node-error.ts";
import type { RunStatus } from "../../protocol/status-report.ts";
import type { NodeMetric } from "../../node/metrics.ts";
import { COMMAND_ID, type InboxMessage } from "./command-node.ts";
import type { Bootstrap } from "./bootstrap.ts";
import type { Conditions } from "./conditions.ts";
import type { HostSide } from "./host-side.ts";
import type { RunnerLiveness } from "./liveness.ts";
import type { NodeTable } from "./node-table.ts";
import type { Placement } from "./placement.ts";
import type { Recovery } from "./recovery.ts";
import type { Roster } from "./roster.ts";

/** What Control needs of the run it belongs to (ZmqRunner). */
export interface ControlRun {
  /** Whether someone listens to every event: the command node then reads every runner's values. */
  wantsEvents(): boolean;
  status(): RunStatus;
  /** A node's `ctx.log` metric, for the `metric` listeners. */
  metric(m: NodeMetric): void;
  /** A restarted runner is ready: epochs may go on. */
  restarted(): void;
}

export interface ControlDeps {
  readonly placement: Placement;
  readonly roster: Roster;
  readonly liveness: RunnerLiveness;
  readonly conditions: Conditions;
  readonly hostSide: HostSide;
  readonly nodes: NodeTable;
  readonly recovery: Recovery;
  readonly boot: Bootstrap;
  readonly log: Logger;
  readonly runToken: string;
  /** Whether the run listens for operators and host agents. */
  readonly listening: boolean;
  readonly run: ControlRun;
}

export class Control {
  /** The first failure of a node outside any epoch (its init): init() and later calls fail with it. */
  initError: NodeError | undefined;

  constructor(private readonly deps: ControlDeps) {}

  /** A message on inbox connection `connection`. */
  onMessage(connection: string, msg: InboxMessage): void {
    const { liveness, conditions, boot } = this.deps;
    switch (msg.type) {
      case "host_hello":
      case "host_status":
      case "runner_exit":
        this.deps.hostSide.onMessage(connection, msg);
        return;
      case "heartbeat":
        // A runner counts as up only once its heartbeat thread is heard (Bootstrap.connected).
        if (liveness.heartbeat(connection, msg)) conditions.changed();
        return;
      case "status_request":
        // Operators ask over CURVE (a listening run). Elsewhere, a peer that asks and never reads would fill the inbox's send queue.
        if (!this.deps.listening) boot.command?.codec.drops.record("schema", "a status_request on a run that does not listen for operators");
        else boot.command!.sendTo(connection, makeMessage("status_report", COMMAND_ID, this.deps.run.status()));
        return;
      default:
        break;
    }
    const from = this.runnerOn(connection, msg);
    if (from === undefined) return;
    liveness.alsoHeard(from);
    if (this.fromRunner(from, msg)) conditions.changed();
  }

  /** A message of runner `from`; true when the run's conditions may have changed. */
  private fromRunner(from: string, msg: Exclude<InboxMessage, { type: "host_hello" | "host_status" | "runner_exit" | "heartbeat" | "status_request" }>): boolean {
    const { roster, placement, nodes, run } = this.deps;
    const command = this.deps.boot.command!;
    switch (msg.type) {
      case "identify": {
        const { token: _token, ...identity } = msg.value;
        const previous = roster.identified(from, identity);
        if (previous && previous.outbox !== identity.outbox) command.forget(from);
        const r = roster.get(from)!;
        command.listenTo(from, identity.outbox, run.wantsEvents() ? "all" : r.feedsDriver ? "values" : r.sink ? "done" : "probe", identity.curve_key);
        if (r.state.kind === "restarting") this.deps.recovery.rejoin(from);
        return true;
      }
      case "status":
        if (msg.value.node_id !== undefined && msg.value.enabled !== undefined && placement.runnerOf.get(msg.value.node_id) === from) nodes.answered(msg.value.node_id, msg.value.enabled);
        if (roster.reported(from, msg.value.status)) {
          this.deps.log.info({ runner: from }, "restarted runner is ready");
          run.restarted();
        }
        return true;
      case "error":
        this.onError(msg);
        return true;
      case "metrics":
        for (const m of msg.value.metrics) run.metric({ nodeId: m.node_id, name: m.name, value: m.value, step: m.step });
        return false;
      case "node_metrics": {
        // Only for the nodes this runner hosts; nothing waits on these figures.
        const now = Date.now();
        for (const [node, m] of Object.entries(msg.value.nodes)) if (placement.runnerOf.get(node) === from) nodes.metrics(node, m, now);
        if (msg.value.drops) roster.get(from)!.drops = msg.value.drops;
        return false;
      }
      default:
        return false;
    }
  }

  /**
   * The runner a message on `connection` speaks for, or undefined (dropped,
   * counted). A connection speaks for the runner it identified as, and only
   * for it; an identify binds only with the run's token. A restarted runner
   * identifies on its new connection, which replaces the old one.
   */
  private runnerOn(connection: string, msg: InboxMessage): string | undefined {
    const { roster, placement, boot } = this.deps;
    const bound = roster.onConnection(connection)?.id;
    if (bound !== undefined) {
      if (msg.node_id === bound) return bound;
      boot.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" on the connection of runner "${bound}"`);
      return undefined;
    }
    if (msg.type !== "identify" || !placement.runners.has(msg.node_id) || msg.value.token !== this.deps.runToken) {
      boot.command?.codec.drops.record("schema", `a ${msg.type} message claiming "${msg.node_id}" from a connection that did not identify with the run's token`);
      return undefined;
    }
    roster.bind(msg.node_id, connection);
    return msg.node_id;
  }

  /** A failure outside any epoch (a node's init): an epoch's errors come inside its completions. */
  private onError(msg: MessageOf<"error">): void {
    if (msg.value.epoch !== undefined) {
      this.deps.boot.command?.codec.drops.record("schema", `an error message for epoch ${JSON.stringify(msg.value.epoch)} of "${msg.value.node_id}": an epoch's errors travel in its completions`);
      return;
    }
    const err = nodeErrorFromWire(msg.value);
    // A node being enabled at run time that could not be created: enableNode rejects with it.
    if (!this.deps.nodes.creationFailed(msg.value.node_id, err)) this.initError ??= err;
  }
}
