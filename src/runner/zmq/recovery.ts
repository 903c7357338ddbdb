/**
 * Recovery: what a runner's death means for the run. A local child exits
 * (its supervisor says whether it restarts it), a host agent reports one of
 * its runners gone, a runner falls silent, or its outbox turns to garbage:
 * Recovery updates the roster, makes the command node and liveness forget the
 * dead runner, and then either fails the run (no restart) or fails only the
 * epochs in flight and lets the replacement rejoin at the next epoch. Once
 * the run is closing, a runner exiting is expected and means nothing.
 */
import type { Logger } from "pino";
import { RunnerDiedError } from "../../errors.ts";
import type { Scheduler } from "../../graph/scheduler.ts";
import { ProtocolError } from "../../protocol/codec.ts";
import { makeMessage } from "../../protocol/message.ts";
import type { EpochLedger } from "../epoch-ledger.ts";
import type { RunnerState } from "../runner.ts";
import type { Bootstrap } from "./bootstrap.ts";
import { COMMAND_ID } from "./command-node.ts";
import type { Conditions } from "./conditions.ts";
import type { RunnerLiveness } from "./liveness.ts";
import type { NodeTable } from "./node-table.ts";
import type { Placement } from "./placement.ts";
import type { Roster } from "./roster.ts";
import { describeExit, type ExitInfo } from "./runner-supervisor.ts";

/** What Recovery needs of the run it belongs to (ZmqRunner). */
export interface RecoveryRun {
  state(): RunnerState;
  /** Whether the run already failed for good. */
  failed(): boolean;
  /** The run cannot go on: every waiting and later call fails with `err`. */
  fail(err: Error): void;
  /** The epoch a rejoining runner starts at. */
  nextEpoch(): number;
  /** Reports an epoch's failure to the `error` listeners. */
  emitError(err: Error): void;
}

export interface RecoveryDeps {
  readonly placement: Placement;
  readonly roster: Roster;
  readonly liveness: RunnerLiveness;
  readonly conditions: Conditions;
  readonly ledger: EpochLedger;
  readonly scheduler: Scheduler;
  readonly boot: Bootstrap;
  readonly nodes: NodeTable;
  readonly log: Logger;
  readonly run: RecoveryRun;
}

export class Recovery {
  private closingNow = false;

  constructor(private readonly deps: RecoveryDeps) {}

  /** The run is ending: its runners exit on purpose from now on. */
  get closing(): boolean {
    return this.closingNow;
  }

  close(): void {
    this.closingNow = true;
  }

  /** A local runner process exited. */
  exited(info: ExitInfo): void {
    if (this.closingNow) return;
    const record = this.deps.roster.get(info.runnerId);
    if (record) record.restarts = info.restarts;
    this.runnerDown(info.runnerId, `(pid ${info.pid}) ${describeExit(info)}`, info.restarting);
  }

  /** A runner's heartbeats stopped. */
  silent(runnerId: string, silentMs: number): void {
    // A runner on a host agent is restarted by it (runner_exit tells); one that just went silent is lost.
    if (!this.deps.roster.isRestarting(runnerId)) this.runnerDown(runnerId, `stopped answering heartbeats (silent for ${silentMs} ms)`, false);
  }

  /**
   * A runner died. Every epoch in flight fails with an error naming its nodes
   * and how it died; nothing hangs. Without a restart, the run is over (later
   * calls fail with the same error); with one, epochs wait for the
   * replacement and the run goes on.
   */
  runnerDown(runnerId: string, how: string, restarting: boolean): void {
    const { placement, roster, liveness, ledger, scheduler, boot, log, run } = this.deps;
    if (this.closingNow || run.failed() || run.state() === "created") return;
    const nodes = placement.runners.get(runnerId)?.nodes ?? [runnerId];
    const what = `the runner process of node${nodes.length > 1 ? "s" : ""} ${nodes.join(", ")} ${how}${restarting ? "; it is being restarted" : ""}`;
    const failure = (epoch?: number) => new RunnerDiedError({ nodeIds: nodes, ...(epoch !== undefined ? { epoch } : {}), how: what });
    log.error({ runner: runnerId, nodes, restarting }, what);
    liveness.forget(runnerId);
    boot.command?.forget(runnerId);
    const restarts = restarting && run.state() !== "initializing";
    roster.down(runnerId, what, restarts);
    if (!restarts) {
      this.fail(failure());
      return;
    }
    // The epochs in flight cannot finish: fail them here and have every runner forget them.
    for (const root of ledger.openEpochs()) {
      const err = failure(root);
      const given = ledger.giveUp(root);
      scheduler.closeEpoch(root);
      boot.command!.broadcast(makeMessage("epoch_ended", COMMAND_ID, { epoch: root }));
      run.emitError(err);
      given?.waiter?.reject(err);
    }
    this.deps.conditions.changed();
  }

  /** The run cannot go on (unless it is already over or closing). */
  fail(err: Error): void {
    const { run } = this.deps;
    if (this.closingNow || run.failed() || run.state() === "created") return;
    run.fail(err);
    this.deps.conditions.changed();
  }

  /**
   * A runner's own outbox sent what does not decode. Only that runner
   * publishes there, so it is a broken peer, not a stranger's noise: the run
   * cannot count on its events and fails rather than waits for them.
   */
  corrupt(runnerId: string, err: ProtocolError): void {
    this.deps.log.error({ runner: runnerId, err }, "undecodable message from a runner's own outbox");
    const nodes = this.deps.placement.runners.get(runnerId)?.nodes ?? [runnerId];
    this.fail(new ProtocolError(err.kind, `the runner of ${nodes.join(", ")} sent a message that cannot be decoded (${err.message}); the run cannot count on its events`, { runner: runnerId, nodes }));
  }

  /** A restarted runner identified: it rejoins at the next epoch, or is given up. */
  rejoin(runnerId: string): void {
    this.deps.boot.rejoin(runnerId, this.deps.run.nextEpoch(), this.deps.nodes.switches()).catch((err: unknown) => this.runnerDown(runnerId, (err as Error).message, false));
  }
}
