/**
 * Progress of a long run on a terminal: epochs done (of how many) and the
 * rate, redrawn in place on stderr. Silent when stderr is not a terminal, and
 * for runs shorter than a second, so scripts and short runs see nothing.
 */
export interface ProgressOptions {
  total?: number;
  stream?: NodeJS.WriteStream;
  /** Show nothing before this many ms. Default 1000. */
  delayMs?: number;
  /** Redraw at most this often. Default 200 ms. */
  intervalMs?: number;
  now?: () => number;
}

export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly enabled: boolean;
  private readonly total: number | undefined;
  private readonly delayMs: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = 0;
  private drawn = false;
  done = 0;

  constructor(options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.enabled = this.stream.isTTY === true;
    this.total = options.total;
    this.delayMs = options.delayMs ?? 1000;
    this.intervalMs = options.intervalMs ?? 200;
    this.now = options.now ?? (() => performance.now());
    this.started = this.now();
  }

  /** Counts one more epoch done. */
  tick(n = 1): void {
    this.done += n;
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.started < this.delayMs || t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    this.draw(t);
  }

  /** Epochs per second since the start. */
  rate(t = this.now()): number {
    const s = (t - this.started) / 1000;
    return s > 0 ? this.done / s : 0;
  }

  elapsedSeconds(): number {
    return (this.now() - this.started) / 1000;
  }

  /** Erases the progress line. */
  clear(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }

  private draw(t: number): void {
    const of = this.total === undefined ? "" : `/${this.total}`;
    this.stream.write(`\r\x1b[K${this.done}${of} epochs, ${formatRate(this.rate(t))} epochs/s`);
    this.drawn = true;
  }
}

export function formatRate(rate: number): string {
  return rate >= 100 ? Math.round(rate).toString() : rate.toFixed(1);
}
