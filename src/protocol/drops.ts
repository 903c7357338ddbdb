/**
 * Counting of dropped frames. A frame that fails decoding never crashes the
 * receiver: it is dropped, counted by kind, and logged once per kind (the
 * first occurrence, with a short reason), so a misbehaving peer cannot flood
 * the log. The counts are a plain object for `runner.stats()`.
 */
import type { Logger } from "pino";

export const DropKind = {
  /** Not msgpack, or not a message envelope. */
  garbage: "garbage",
  /** Larger than the codec's maximum message size. */
  oversized: "oversized",
  /** Another protocol version. */
  version: "version",
  /** A `type` this version does not know. */
  unknown_type: "unknown_type",
  /** A known type whose fields fail its schema. */
  schema: "schema",
  /** Binary frames missing, extra, or not matching their placeholders. */
  frames: "frames",
} as const;
export type DropKind = (typeof DropKind)[keyof typeof DropKind];

export type DropCounts = Record<DropKind, number>;

export class DropCounter {
  private readonly counts: DropCounts = { garbage: 0, oversized: 0, version: 0, unknown_type: 0, schema: 0, frames: 0 };
  private readonly logger: Logger | undefined;

  /** `logger` should be the receiving component's child logger; nothing is logged without one. */
  constructor(logger?: Logger) {
    this.logger = logger;
  }

  /** Counts one dropped message; logs the first of each kind at warn. */
  record(kind: DropKind, reason: string, context?: Record<string, unknown>): void {
    const n = ++this.counts[kind];
    if (n === 1 && this.logger) {
      this.logger.warn({ kind, reason, ...context }, "dropped an undecodable message (further drops of this kind are only counted)");
    }
  }

  /** A copy of the counts. */
  stats(): DropCounts {
    return { ...this.counts };
  }

  /** Total drops of every kind. */
  get total(): number {
    let t = 0;
    for (const k in this.counts) t += this.counts[k as DropKind];
    return t;
  }
}
