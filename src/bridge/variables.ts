/**
 * Signals mirrored as the client's variables (`events.subscribe` with
 * `as: "variables"`), for clients that have no handler for `event` but keep a
 * registry of variables, as the reference client does: each subscribed signal
 * becomes one variable, `<tube_id>/<node>.<signal>`, made with
 * `create_variable` (its first value as `data`) and then changed with
 * `update_variable` (`field: "data"`).
 *
 * Throttled per variable: at most one call every `intervalMs`, and at most one
 * call in flight; values arriving in between replace each other, so the last
 * value is always delivered and a slow client costs one pending value per
 * variable, never a queue. A client that refuses a variable (an error reply)
 * gets no more calls for it.
 */
import type { Logger } from "pino";
import type { TubeEvent } from "../runner/runner.ts";
import { RpcError } from "./jsonrpc.ts";
import type { RequestOptions } from "./peer.ts";

/** Where the calls go: the session's current connection, if any. */
export interface VariableSink {
  request(method: string, params: unknown, options: RequestOptions): Promise<unknown>;
  /** Bytes queued on the socket: while over the bound, calls wait. */
  buffered(): number;
}

export interface MirroredSubscription {
  readonly id: string;
  readonly tubeId: string;
  readonly intervalMs: number;
}

interface Variable {
  readonly subId: string;
  readonly variableId: string;
  readonly role: string;
  readonly intervalMs: number;
  created: boolean;
  refused: boolean;
  busy: boolean;
  lastSent: number;
  pending: { value: unknown } | undefined;
  timer: NodeJS.Timeout | undefined;
}

export function variableId(tubeId: string, nodeId: string, signal: string): string {
  return `${tubeId}/${nodeId}.${signal}`;
}

export class VariableMirror {
  /** subscription id -> variable id -> state */
  private readonly subs = new Map<string, Map<string, Variable>>();

  constructor(
    private readonly sink: () => VariableSink | undefined,
    private readonly opts: { timeoutMs: number; maxBuffered: number; log: Logger },
  ) {}

  push(sub: MirroredSubscription, event: TubeEvent): void {
    let vars = this.subs.get(sub.id);
    if (!vars) this.subs.set(sub.id, (vars = new Map()));
    const id = variableId(sub.tubeId, event.node_id, event.signal);
    let v = vars.get(id);
    if (!v) {
      v = {
        subId: sub.id,
        variableId: id,
        role: `signal "${event.signal}" of node "${event.node_id}"`,
        intervalMs: sub.intervalMs,
        created: false,
        refused: false,
        busy: false,
        lastSent: 0,
        pending: undefined,
        timer: undefined,
      };
      vars.set(id, v);
    }
    if (v.refused) return;
    v.pending = { value: event.value };
    this.schedule(v);
  }

  /** Forgets a subscription's variables (the client keeps what it has). */
  drop(subscriptionId: string): void {
    const vars = this.subs.get(subscriptionId);
    if (!vars) return;
    this.subs.delete(subscriptionId);
    for (const v of vars.values()) {
      if (v.timer) clearTimeout(v.timer);
      v.timer = undefined;
      v.pending = undefined;
      v.refused = true;
    }
  }

  clear(): void {
    for (const id of [...this.subs.keys()]) this.drop(id);
  }

  private schedule(v: Variable): void {
    if (v.busy || v.timer || !v.pending || v.refused) return;
    const wait = v.lastSent + v.intervalMs - Date.now();
    if (wait <= 0) return void this.send(v);
    v.timer = setTimeout(() => {
      v.timer = undefined;
      void this.send(v);
    }, wait);
    v.timer.unref();
  }

  private async send(v: Variable): Promise<void> {
    if (!v.pending || v.refused) return;
    const sink = this.sink();
    if (!sink || sink.buffered() > this.opts.maxBuffered) {
      // No connection, or a backed-up one: try again an interval later with the newest value.
      v.lastSent = Date.now();
      return this.schedule(v);
    }
    const { value } = v.pending;
    v.pending = undefined;
    v.busy = true;
    v.lastSent = Date.now();
    const method = v.created ? "update_variable" : "create_variable";
    const params = v.created
      ? { variable_id: v.variableId, field: "data", value }
      : {
          variable_id: v.variableId,
          obj_type: "__variable__",
          data: value,
          role: v.role,
          requires_grad: false,
          _retain_grad: false,
          _grad: [],
          _output_nr: 0,
          _grad_fn: null,
          is_leaf: true,
        };
    try {
      await sink.request(method, params, { timeoutMs: this.opts.timeoutMs });
      v.created = true;
    } catch (err) {
      if (err instanceof RpcError) {
        // The client answered with an error: it does not take this variable.
        v.refused = true;
        v.pending = undefined;
        this.opts.log.info({ variable_id: v.variableId, method, error: err.toWire() }, "the client refused a mirrored variable; no more calls for it");
      } else if (!v.pending) {
        // Lost on the way (timeout, disconnect): the value is sent again unless a newer one came.
        v.pending = { value };
      }
    } finally {
      v.busy = false;
    }
    this.schedule(v);
  }
}
