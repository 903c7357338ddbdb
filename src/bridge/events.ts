/**
 * Event subscriptions: a runner's events, filtered by node and signal, reach
 * the subscriber as `event` notifications `{ runner_id, subscription_id,
 * events: [...] }`, batched: events emitted in one turn of the event loop
 * travel in one frame (at most `maxBatch` events a frame).
 *
 * A subscriber that does not read fast enough is not allowed to grow the
 * server's memory: while the socket's send buffer is over `maxBuffered`
 * bytes, events are dropped and counted, and the next notification says how
 * many (`dropped`).
 */
import type { TubeEvent } from "../runner/runner.ts";
import type { SendOutcome } from "./peer.ts";

export interface Subscription {
  readonly id: string;
  readonly runnerId: string;
  readonly nodes: ReadonlySet<string> | undefined;
  readonly signals: ReadonlySet<string> | undefined;
  /** How the subscriber sees the events: `event` notifications (default), or its own variables (variables.ts). */
  readonly as?: "events" | "variables";
  /** For `as: "variables"`: the tube the variable ids name, and the throttle interval. */
  readonly tubeId?: string;
  readonly intervalMs?: number;
}

export function matches(sub: Subscription, event: TubeEvent): boolean {
  return (sub.nodes === undefined || sub.nodes.has(event.node_id)) && (sub.signals === undefined || sub.signals.has(event.signal));
}

interface Outbox {
  sub: Subscription;
  events: TubeEvent[];
  dropped: number;
}

export interface EventSink {
  /** Sends one notification: "sent", "closed" (no connection to send on) or "too-large" (over the message size limit). */
  notify(method: string, params: unknown): SendOutcome;
  /** Bytes queued on the socket, for backpressure. */
  buffered(): number;
}

export class EventBatcher {
  private readonly outboxes = new Map<string, Outbox>();
  private scheduled = false;

  constructor(
    private readonly sink: () => EventSink | undefined,
    private readonly maxBatch = 1000,
    private readonly maxBuffered = 8 * 1024 * 1024,
  ) {}

  push(sub: Subscription, event: TubeEvent): void {
    let box = this.outboxes.get(sub.id);
    if (!box) {
      box = { sub, events: [], dropped: 0 };
      this.outboxes.set(sub.id, box);
    }
    const sink = this.sink();
    if (!sink || sink.buffered() > this.maxBuffered) {
      box.dropped++;
      return;
    }
    box.events.push(event);
    if (box.events.length >= this.maxBatch) this.flushOne(box, sink);
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Forgets a subscription's pending events. */
  drop(subscriptionId: string): void {
    this.outboxes.delete(subscriptionId);
  }

  flush(): void {
    this.scheduled = false;
    const sink = this.sink();
    for (const box of this.outboxes.values()) {
      if (!sink) {
        box.dropped += box.events.length;
        box.events = [];
        continue;
      }
      if (box.events.length > 0) this.flushOne(box, sink);
    }
  }

  private flushOne(box: Outbox, sink: EventSink): void {
    const events = box.events;
    box.events = [];
    this.sendEvents(box, sink, events);
  }

  /** A batch over the message size limit goes as two halves; one event alone over it is dropped and counted. */
  private sendEvents(box: Outbox, sink: EventSink, events: TubeEvent[]): void {
    const params: Record<string, unknown> = { runner_id: box.sub.runnerId, subscription_id: box.sub.id, events };
    if (box.dropped > 0) params.dropped = box.dropped;
    const outcome = sink.notify("event", params);
    if (outcome === "sent") box.dropped = 0;
    else if (outcome === "too-large" && events.length > 1) {
      const half = Math.ceil(events.length / 2);
      this.sendEvents(box, sink, events.slice(0, half));
      this.sendEvents(box, sink, events.slice(half));
    } else box.dropped += events.length;
  }
}
