/**
 * Webhook delivery of run events (`event_delivery: { webhook: URL }`). The
 * API only writes events; this dispatcher, off the request path, POSTs each
 * run's events to its URL as JSON, one at a time and in order, and moves the
 * run's delivery cursor in the store after each 2xx. A failed POST is
 * retried with back-off (0.25 s doubling to 30 s) and holds back that run's
 * later events only. The cursor is in the store, so a restarted server
 * resumes where it stopped; a lease per run keeps two servers sharing a
 * database from delivering the same run.
 *
 * Body: `{ "run_id": ..., "event": { id, type, t, msg, state, payload? } }`.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Store } from "../../store/store.ts";
import { eventView } from "./views.ts";

export interface WebhookOptions {
  store: Store;
  log: Logger;
  /** Per POST; default 5 s. */
  timeoutMs?: number;
  /** Back-off bounds; default 250 ms to 30 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

const LEASE_MS = 60_000;
const SWEEP_MS = 1000;

export class WebhookDispatcher {
  private readonly owner = randomUUID();
  private readonly busy = new Set<string>();
  private readonly backoff = new Map<string, { until: number; delay: number }>();
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private closed = false;
  private sweeping: Promise<void> | undefined;

  constructor(private readonly o: WebhookOptions) {}

  start(): void {
    this.timer = setInterval(() => this.poke(), SWEEP_MS);
    this.timer.unref();
    this.poke();
  }

  /** A run got new events: deliver them soon (coalesced). */
  poke(): void {
    if (this.closed || this.soon) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.sweeping ??= this.sweep().finally(() => (this.sweeping = undefined));
    }, 5);
    this.soon.unref();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.soon);
    await this.sweeping;
  }

  private async sweep(): Promise<void> {
    let runs;
    try {
      runs = await this.o.store.webhookBacklog(100);
    } catch (err) {
      this.o.log.warn({ err: (err as Error).message }, "webhook backlog could not be read");
      return;
    }
    const now = Date.now();
    for (const run of runs) {
      if (this.closed) return;
      if (this.busy.has(run.id) || (this.backoff.get(run.id)?.until ?? 0) > now) continue;
      this.busy.add(run.id);
      void this.deliver(run.id, run.webhook_url!, run.webhook_cursor).finally(() => this.busy.delete(run.id));
    }
  }

  private async deliver(runId: string, url: string, cursor: number): Promise<void> {
    const store = this.o.store;
    try {
      if (!(await store.leaseWebhook(runId, this.owner, Date.now(), LEASE_MS))) return;
      const events = await store.listEvents(runId, cursor);
      for (const e of events) {
        if (this.closed) return;
        const res = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ run_id: runId, event: eventView(e) }),
          signal: AbortSignal.timeout(this.o.timeoutMs ?? 5000),
        });
        await res.arrayBuffer().catch(() => undefined);
        if (res.status < 200 || res.status >= 300) throw new Error(`webhook answered ${res.status}`);
        await store.advanceWebhook(runId, e.id);
        this.backoff.delete(runId);
      }
    } catch (err) {
      const prev = this.backoff.get(runId)?.delay ?? 0;
      const delay = Math.min(this.o.maxBackoffMs ?? 30_000, prev ? prev * 2 : (this.o.minBackoffMs ?? 250));
      this.backoff.set(runId, { until: Date.now() + delay, delay });
      setTimeout(() => this.poke(), delay).unref();
      this.o.log.info({ run: runId, err: (err as Error).message, retryInMs: delay }, "webhook delivery failed; will retry");
    }
  }
}
