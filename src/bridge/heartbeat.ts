/**
 * Keeps long calls alive: while a request we are answering runs longer than
 * `intervalMs`, a `heartbeat` notification `{ id }` goes to the caller every
 * `intervalMs` or so, and the caller resets its timeout on each one (as the
 * reference client does).
 *
 * One timer per peer, running only while calls are in flight, ticking every
 * half interval: cheaper than a timer per call on the hot path
 * (bench/bridge-rpc.bench.ts), and the gap between two heartbeats of one call
 * is at most 1.5 x intervalMs.
 */
import type { RpcId } from "./jsonrpc.ts";

export class HeartbeatKeeper {
  private readonly calls = new Map<RpcId, number>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number,
    private readonly beat: (id: RpcId) => void,
  ) {}

  track(id: RpcId): void {
    this.calls.set(id, Date.now());
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.intervalMs / 2)));
      this.timer.unref();
    }
  }

  done(id: RpcId): void {
    // The timer stops at its next tick when nothing is tracked, not here: a
    // client making sequential calls would otherwise make and clear a timer per call.
    this.calls.delete(id);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  get size(): number {
    return this.calls.size;
  }

  has(id: RpcId): boolean {
    return this.calls.has(id);
  }

  private tick(): void {
    if (this.calls.size === 0) return this.stop();
    const now = Date.now();
    for (const [id, last] of this.calls) {
      if (now - last >= this.intervalMs) {
        this.calls.set(id, now);
        this.beat(id);
      }
    }
  }
}
