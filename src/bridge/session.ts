/**
 * A session: what one client owns on the server (tubes, runners, event
 * subscriptions, the callables it serves), independent of the socket it
 * came on. A session outlives its socket by a grace period, so a client that
 * reconnects with the same API key takes it back; after the grace period its
 * runners are deinitialized and it is gone.
 */
import type { RunnerTracking } from "./tracking/runner-tracking.ts";
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Tube } from "../graph/tube.ts";
import type { EpochResult, Runner, TubeEvent } from "../runner/runner.ts";
import { EventBatcher, matches, type Subscription } from "./events.ts";
import { RpcCodes, RpcError } from "./jsonrpc.ts";
import type { JsonRpcPeer } from "./peer.ts";
import { CallableError, replyData } from "./rpc-node.ts";
import { VariableMirror } from "./variables.ts";

export interface LoadedTube {
  readonly id: string;
  readonly tube: Tube;
  readonly input: Record<string, unknown>;
}

export type RunnerKind = "local" | "zmq";

export class RunnerEntry {
  readonly subscriptions = new Map<string, Subscription>();
  /** The client's run this runner's work belongs to (the reference client's `run_uuid`), for run tracking; the latest one given wins. */
  runUuid: string | null = null;
  /** The tracked run this runner's metrics go to, when it has one (runner.init `track`, or a known `run_uuid`). */
  tracking: RunnerTracking | undefined;
  lastEpoch: number | null = null;
  epochs = 0;
  lastError: Error | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private readonly detachers: Array<() => void> = [];

  constructor(
    readonly id: string,
    readonly tubeId: string,
    readonly kind: RunnerKind,
    readonly runner: Runner,
    onEvent: (entry: RunnerEntry, event: TubeEvent) => void,
    onError: (entry: RunnerEntry, error: Error) => void,
  ) {
    const ev = (e: TubeEvent) => onEvent(this, e);
    const ep = (r: EpochResult) => {
      this.lastEpoch = r.epoch;
      this.epochs++;
    };
    const er = (e: Error) => {
      this.lastError = e;
      // A process() call's failure is its reply; only free-run failures have no one else to tell.
      if (runner.state === "running") onError(this, e);
    };
    runner.on("event", ev).on("epoch", ep).on("error", er);
    this.detachers.push(() => runner.off("event", ev).off("epoch", ep).off("error", er));
  }

  /**
   * Runs one epoch. Calls on one runner are queued, so the epoch a result
   * belongs to is never ambiguous.
   */
  process(input: Record<string, unknown>): Promise<{ epoch: number | null; value: unknown }> {
    const run = async () => {
      let epoch: number | null = null;
      const onEpoch = (r: EpochResult) => {
        if (epoch === null) epoch = r.epoch;
      };
      this.runner.on("epoch", onEpoch);
      try {
        const value = await this.runner.process(input);
        return { epoch: epoch ?? this.lastEpoch, value: value === undefined ? null : value };
      } finally {
        this.runner.off("epoch", onEpoch);
      }
    };
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Runs `n` epochs in free-run and resolves with their results; queued like process(). */
  run(n: number): Promise<{ results: Array<{ epoch: number; value: unknown }> }> {
    const run = async () => ({ results: (await this.runner.run(n)).map((r) => ({ epoch: r.epoch, value: r.value === undefined ? null : r.value })) });
    const result = this.chain.then(run, run);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Keeps the run id a call carried, if it carried one. */
  noteRun(runUuid: string | null | undefined): void {
    if (typeof runUuid === "string") this.runUuid = runUuid;
  }

  status(): { runner_id: string; tube_id: string; runner: RunnerKind; state: string; epochs: number; last_epoch: number | null; run_uuid: string | null; track: { run_uuid: string; owned: boolean } | null } {
    const track = this.tracking ? { run_uuid: this.tracking.runUuid, owned: this.tracking.owned } : null;
    return { runner_id: this.id, tube_id: this.tubeId, runner: this.kind, state: this.runner.state, epochs: this.epochs, last_epoch: this.lastEpoch, run_uuid: this.runUuid, track };
  }

  async deinit(): Promise<void> {
    for (const d of this.detachers.splice(0)) d();
    try {
      if (this.runner.state !== "closed") await this.runner.deinit();
    } finally {
      // After the release: metrics still travelling from runner processes have arrived.
      await this.tracking?.finish();
    }
  }
}

export interface SessionOptions {
  readonly principal: string;
  readonly relayToken: string;
  readonly log: Logger;
  /** Events are dropped (and counted) while more than this many bytes wait on the socket. Default 8 MiB. */
  readonly maxEventBufferBytes?: number;
  /** How long the client has to answer create_variable / update_variable. Default 10 s. */
  readonly variableTimeoutMs?: number;
}

export class Session {
  readonly id = randomUUID();
  readonly principal: string;
  /** Lets node runner processes reach this session's callables (`callables.invoke`) and nothing else. */
  readonly relayToken: string;
  readonly tubes = new Map<string, LoadedTube>();
  readonly runners = new Map<string, RunnerEntry>();
  readonly callables = new Set<string>();
  readonly events: EventBatcher;
  readonly variables: VariableMirror;
  readonly log: Logger;
  private _peer: JsonRpcPeer | undefined;
  private buffered: () => number = () => 0;
  private graceTimer: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(opts: SessionOptions) {
    this.principal = opts.principal;
    this.relayToken = opts.relayToken;
    this.log = opts.log.child({ session: this.id });
    this.events = new EventBatcher(() => {
      const peer = this._peer;
      if (!peer || peer.closed) return undefined;
      return { notify: (m, p) => peer.notify(m, p), buffered: () => this.buffered() };
    }, undefined, opts.maxEventBufferBytes);
    this.variables = new VariableMirror(
      () => {
        const peer = this._peer;
        if (!peer || peer.closed) return undefined;
        return { request: (m, p, o) => peer.request(m, p, o), buffered: () => this.buffered() };
      },
      { timeoutMs: opts.variableTimeoutMs ?? 10_000, maxBuffered: opts.maxEventBufferBytes ?? 8 * 1024 * 1024, log: this.log },
    );
  }

  get peer(): JsonRpcPeer | undefined {
    return this._peer;
  }

  get attached(): boolean {
    return this._peer !== undefined && !this._peer.closed;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  attach(peer: JsonRpcPeer, buffered: () => number): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    this._peer = peer;
    this.buffered = buffered;
  }

  /** The socket is gone: calls to the client fail now; the session waits `graceMs` for the client to come back. */
  detach(peer: JsonRpcPeer, graceMs: number, onExpire: () => void): void {
    if (this._peer !== peer) return;
    this._peer = undefined;
    this.graceTimer = setTimeout(onExpire, graceMs);
    this.graceTimer.unref();
  }

  tube(id: string): LoadedTube {
    const t = this.tubes.get(id);
    if (!t) throw new RpcError(RpcCodes.NOT_FOUND, `no tube "${id}" in this session`, { tube_id: id });
    return t;
  }

  runner(id: string): RunnerEntry {
    const r = this.runners.get(id);
    if (!r) throw new RpcError(RpcCodes.NOT_FOUND, `no runner "${id}" in this session`, { runner_id: id });
    return r;
  }

  onRunnerEvent(entry: RunnerEntry, event: TubeEvent): void {
    for (const sub of entry.subscriptions.values()) {
      if (!matches(sub, event)) continue;
      if (sub.as === "variables") this.variables.push({ id: sub.id, tubeId: entry.tubeId, intervalMs: sub.intervalMs ?? 100 }, event);
      else this.events.push(sub, event);
    }
  }

  onRunnerError(entry: RunnerEntry, error: Error): void {
    const wire = error instanceof Error ? { name: error.name, message: error.message, ...("nodeId" in error ? { node_id: (error as { nodeId: unknown }).nodeId } : {}) } : { message: String(error) };
    this._peer?.notify("runner.error", { runner_id: entry.id, error: wire });
  }

  /** Runs a callable in this session's client, as an rpc node asks; resolves with the reply's data. */
  async invokeCallable(callable: string, args: unknown[], kwargs: Record<string, unknown>, timeoutMs: number): Promise<unknown> {
    if (!this.callables.has(callable)) throw new CallableError(callable, "the client has not registered it (callables.register)");
    const peer = this._peer;
    if (!peer || peer.closed) throw new CallableError(callable, "the client that serves it is disconnected");
    let reply: unknown;
    try {
      reply = await peer.request("run_callable", { callable_id: callable, args, kwargs }, { timeoutMs });
    } catch (err) {
      const e = err as Error & { rpcCode?: number; data?: unknown };
      const detail = e.data && typeof e.data === "object" ? ` ${JSON.stringify(e.data).slice(0, 300)}` : "";
      throw new CallableError(callable, `${e.message}${detail}`, { cause: err });
    }
    return replyData(callable, reply);
  }

  /** Deinitializes every runner and forgets everything. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.variables.clear();
    const runners = [...this.runners.values()];
    this.runners.clear();
    this.tubes.clear();
    await Promise.allSettled(
      runners.map((r) =>
        r.deinit().catch((err) => {
          this.log.warn({ runner: r.id, err }, "runner deinit failed while closing the session");
        }),
      ),
    );
  }
}
