/**
 * Liveness of peers from their heartbeats (or any message): a peer not heard
 * from for `timeoutMs` is dead. The clock and the timer are injectable so
 * tests need no real time.
 */

/** How often a peer should send a heartbeat: several per timeout, so one lost or late message does not kill it. */
export const HEARTBEAT_INTERVAL_MS = 250;
/** A peer silent this long is dead: "a dead peer is noticed in about a second" (DESIGN.md). */
export const HEARTBEAT_TIMEOUT_MS = 1000;

export interface Liveness {
  /** The peer was heard from now. */
  seen(peer: string): void;
  isAlive(peer: string): boolean;
  /** Stops tracking a peer (it left cleanly). */
  forget(peer: string): void;
}

export interface HeartbeatMonitorOptions {
  timeoutMs?: number;
  /** Milliseconds; Date.now by default. */
  now?: () => number;
  /** Called once when a tracked peer goes silent; again only after it was seen again and went silent again. */
  onDead?: (peer: string, silentMs: number) => void;
}

export class HeartbeatMonitor implements Liveness {
  readonly timeoutMs: number;
  private readonly now: () => number;
  private readonly onDead: ((peer: string, silentMs: number) => void) | undefined;
  private readonly last = new Map<string, number>();
  private readonly dead = new Set<string>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private lastCheck: number | undefined;

  constructor(options: HeartbeatMonitorOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? HEARTBEAT_TIMEOUT_MS;
    this.now = options.now ?? Date.now;
    this.onDead = options.onDead;
  }

  seen(peer: string): void {
    this.last.set(peer, this.now());
    this.dead.delete(peer);
  }

  isAlive(peer: string): boolean {
    const t = this.last.get(peer);
    return t !== undefined && this.now() - t < this.timeoutMs;
  }

  /** When the peer was last heard from, or undefined when never. */
  lastSeen(peer: string): number | undefined {
    return this.last.get(peer);
  }

  forget(peer: string): void {
    this.last.delete(peer);
    this.dead.delete(peer);
  }

  /** Tracked peers. */
  peers(): string[] {
    return [...this.last.keys()];
  }

  /**
   * Finds peers that went silent since the last check, calls `onDead` for each, and returns them.
   * A check that comes more than half a timeout after the previous one finds this process
   * itself was held up (its event loop busy, or the machine): the peers' heartbeats of that
   * time may be waiting unread in a socket, so their silence counts from now, not from then.
   */
  check(): string[] {
    const now = this.now();
    const stalled = this.lastCheck !== undefined && now - this.lastCheck > this.timeoutMs / 2;
    this.lastCheck = now;
    if (stalled) {
      for (const peer of this.last.keys()) if (!this.dead.has(peer)) this.last.set(peer, Math.max(this.last.get(peer)!, now));
      return [];
    }
    const newlyDead: string[] = [];
    for (const [peer, t] of this.last) {
      if (now - t >= this.timeoutMs && !this.dead.has(peer)) {
        this.dead.add(peer);
        newlyDead.push(peer);
        this.onDead?.(peer, now - t);
      }
    }
    return newlyDead;
  }

  /** Checks every `intervalMs` (a quarter of the timeout by default) until `stop()`. The timer does not keep the process alive. */
  start(intervalMs = Math.max(10, Math.floor(this.timeoutMs / 4)), setTimer: typeof setInterval = setInterval): this {
    this.stop();
    this.timer = setTimer(() => this.check(), intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
    return this;
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }
}
