/**
 * RunnerLiveness: which runners the driver hears, from their heartbeat
 * threads. A runner heartbeats from its own thread on its own connection to
 * the command inbox (node side: heartbeat-thread.ts), not on the connection it
 * identified on: the first heartbeat carrying the run's token binds that
 * connection to the runner's liveness, and from then on only that connection
 * speaks for it (as for identify, see Control.runnerOn). Each heartbeat is
 * answered on its connection, so the runner's thread hears the command too.
 *
 * A runner is tracked from its thread's first heartbeat; the messages of its
 * main connection count as signs of life too, once tracked. A runner silent
 * for the timeout is dead (`onDead`). A runner process that really exits is
 * noticed sooner, by its supervisor (local) or its host agent (runner_exit);
 * silence is for what those cannot see: a host cut off, a process frozen.
 */
import { HeartbeatMonitor } from "../../transport/heartbeat.ts";
import type { MessageOf } from "../../protocol/message.ts";

export interface RunnerLivenessOptions {
  /** A runner silent this long is dead. */
  readonly timeoutMs: number;
  /** The run's secret (only a heartbeat with it binds a connection). */
  readonly runToken: string;
  /** Whether `id` is a runner of this run. */
  isRunner(id: string): boolean;
  /** Answer a heartbeat on `connection`. */
  reply(connection: string): void;
  /** A heartbeat that speaks for no runner: dropped and counted. */
  refuse(reason: string): void;
  onDead(runnerId: string, silentMs: number): void;
}

export class RunnerLiveness {
  private readonly monitor: HeartbeatMonitor;
  private readonly runnerOnConnection = new Map<string, string>();
  private readonly connectionOfRunner = new Map<string, string>();

  constructor(private readonly options: RunnerLivenessOptions) {
    this.monitor = new HeartbeatMonitor({ timeoutMs: options.timeoutMs, onDead: (id, silentMs) => options.onDead(id, silentMs) });
  }

  get timeoutMs(): number {
    return this.monitor.timeoutMs;
  }

  /** A heartbeat arrived on inbox connection `connection`. Returns true when it is the runner's first (since forgotten): it now counts as heard. */
  heartbeat(connection: string, msg: MessageOf<"heartbeat">): boolean {
    let runner = this.runnerOnConnection.get(connection);
    if (runner !== undefined) {
      if (msg.node_id !== runner) {
        this.options.refuse(`a heartbeat claiming "${msg.node_id}" on the heartbeat connection of runner "${runner}"`);
        return false;
      }
    } else {
      if (!this.options.isRunner(msg.node_id) || msg.value?.token !== this.options.runToken) {
        this.options.refuse(`a heartbeat claiming "${msg.node_id}" without the run's token`);
        return false;
      }
      runner = msg.node_id;
      this.unbind(runner);
      this.runnerOnConnection.set(connection, runner);
      this.connectionOfRunner.set(runner, connection);
    }
    const first = !this.heard(runner);
    this.monitor.seen(runner);
    this.options.reply(connection);
    return first;
  }

  /** Whether the runner's heartbeat thread has been heard (since it was last forgotten). */
  heard(runnerId: string): boolean {
    return this.monitor.lastSeen(runnerId) !== undefined;
  }

  /** Any other message from the runner: a sign of life, once it is tracked. */
  alsoHeard(runnerId: string): void {
    if (this.heard(runnerId)) this.monitor.seen(runnerId);
  }

  /** The runner is gone (or being replaced): its heartbeat connection no longer speaks for it. */
  forget(runnerId: string): void {
    this.monitor.forget(runnerId);
    this.unbind(runnerId);
  }

  /** Declares the runners silent for the timeout dead (call it every heartbeat interval). */
  check(): void {
    this.monitor.check();
  }

  private unbind(runnerId: string): void {
    const connection = this.connectionOfRunner.get(runnerId);
    if (connection === undefined) return;
    this.connectionOfRunner.delete(runnerId);
    this.runnerOnConnection.delete(connection);
  }
}
