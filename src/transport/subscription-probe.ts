/**
 * Proving that a subscription has reached a publisher (the "slow joiner"
 * problem: a SUB that has connected may still miss the first messages until
 * its subscription has travelled to the PUB).
 *
 * A subscriber subscribes to its own probe topic "\0probe:<id>" after its data
 * topics. A publisher is an XPUB (verbose, so it sees every subscription):
 * when a probe subscription arrives, it publishes one frame on that topic
 * carrying its own id. Subscriptions travel in order on a connection, so a
 * subscriber that receives publisher P's probe reply knows that P has also
 * seen its data subscriptions: nothing P publishes from then on is lost. On a
 * reconnect, ZeroMQ replays the subscriptions and the probe runs again.
 */
export const PROBE_PREFIX = "\u0000probe:";

const PROBE_PREFIX_BYTES = Buffer.from(PROBE_PREFIX);

export function probeTopic(subscriberId: string): string {
  return PROBE_PREFIX + subscriberId;
}

export function isProbeFrame(topic: Buffer | undefined): boolean {
  return topic !== undefined && topic.length >= PROBE_PREFIX_BYTES.length && topic.subarray(0, PROBE_PREFIX_BYTES.length).equals(PROBE_PREFIX_BYTES);
}

/**
 * On the publisher side: given one message read from an XPUB (a subscription
 * frame: 1 = subscribe, 0 = unsubscribe, then the topic), returns the
 * subscriber id of a probe subscription, or undefined for anything else.
 */
export function probeSubscriber(frame: Buffer): string | undefined {
  if (frame.length < 1 + PROBE_PREFIX_BYTES.length || frame[0] !== 1) return undefined;
  const topic = frame.subarray(1);
  if (!isProbeFrame(topic)) return undefined;
  return topic.subarray(PROBE_PREFIX_BYTES.length).toString("utf8");
}

/** The frames a publisher sends to answer a probe. */
export function probeReply(subscriberId: string, publisherId: string): Buffer[] {
  return [Buffer.from(probeTopic(subscriberId)), Buffer.from(publisherId)];
}

/** On the subscriber side: which publishers have answered, and waiting for a set of them. */
export class ProbeTracker {
  private readonly confirmed = new Set<string>();
  private waiters: Array<{ ids: readonly string[]; resolve: () => void }> = [];

  /** Records a probe reply (the frames received on the probe topic). */
  record(frames: readonly Buffer[]): string | undefined {
    const id = frames[1]?.toString("utf8");
    if (!id) return undefined;
    this.confirmed.add(id);
    this.waiters = this.waiters.filter((w) => {
      if (!w.ids.every((i) => this.confirmed.has(i))) return true;
      w.resolve();
      return false;
    });
    return id;
  }

  has(publisherId: string): boolean {
    return this.confirmed.has(publisherId);
  }

  /** Forgets a publisher (it went away; its replacement must answer again). */
  forget(publisherId: string): void {
    this.confirmed.delete(publisherId);
  }

  /** Resolves once every id has answered. */
  waitFor(ids: readonly string[]): Promise<void> {
    if (ids.every((i) => this.confirmed.has(i))) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ ids, resolve }));
  }

  missing(ids: readonly string[]): string[] {
    return ids.filter((i) => !this.confirmed.has(i));
  }
}
