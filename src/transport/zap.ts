/**
 * A ZAP handler (ZeroMQ RFC 27): a Router bound at `inproc://zeromq.zap.01`
 * in the sockets' context. libzmq asks it about every connection to a CURVE
 * server socket of that context; it accepts CURVE clients whose public key is
 * trusted, and refuses (and logs, in z85) every other key and mechanism.
 * One handler per context: libzmq allows one bind of the ZAP endpoint.
 */
import type { Logger } from "pino";
import * as zmq from "zeromq";
import { openSocket } from "./sockets.ts";

/** ZAP requests come from libzmq itself (inproc): a few short frames. */
const ZAP_MAX_BYTES = 64 * 1024;
import { TubularError } from "../errors.ts";
import { isZ85Key, z85Encode } from "./curve.ts";

export const ZAP_ENDPOINT = "inproc://zeromq.zap.01";

export interface ZapOptions {
  /** Trusted client public keys, z85. */
  trusted?: Iterable<string>;
  logger?: Logger;
  /** The context whose sockets this handler serves; zeromq's default context by default. */
  context?: zmq.Context;
}

export interface ZapStats {
  accepted: number;
  refused: number;
}

export class ZapAuthenticator {
  private readonly router: zmq.Router;
  private readonly keys: Set<string>;
  private readonly logger: Logger | undefined;
  private readonly refusedLogged = new Set<string>();
  private readonly counts: ZapStats = { accepted: 0, refused: 0 };
  private readonly loop: Promise<void>;

  private constructor(router: zmq.Router, options: ZapOptions) {
    this.router = router;
    this.keys = new Set();
    for (const k of options.trusted ?? []) this.trust(k);
    this.logger = options.logger;
    this.loop = this.serve();
  }

  /** Binds the handler; fails with TUBULAR_ERR_AUTH when another handler is already bound in this context. */
  static async start(options: ZapOptions = {}): Promise<ZapAuthenticator> {
    const router = openSocket("router", ZAP_MAX_BYTES, { linger: 0, ...(options.context ? { context: options.context } : {}) });
    try {
      await router.bind(ZAP_ENDPOINT);
    } catch (err) {
      router.close();
      throw new TubularError("TUBULAR_ERR_AUTH", "could not bind the ZAP handler (is another one running in this process?)", {}, { cause: err });
    }
    return new ZapAuthenticator(router, options);
  }

  trust(publicKey: string): void {
    if (!isZ85Key(publicKey)) throw new TubularError("TUBULAR_ERR_KEY", "a trusted key must be a 40-character z85 key");
    this.keys.add(publicKey);
  }

  distrust(publicKey: string): void {
    this.keys.delete(publicKey);
  }

  get trusted(): ReadonlySet<string> {
    return this.keys;
  }

  stats(): ZapStats {
    return { ...this.counts };
  }

  async close(): Promise<void> {
    this.router.close();
    await this.loop;
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.router) {
        const reply = this.handle(frames);
        if (reply) await this.router.send(reply);
      }
    } catch (err) {
      if (!this.router.closed) this.logger?.error({ err }, "ZAP handler stopped");
    }
  }

  /** [routing id, "", version, request id, domain, address, identity, mechanism, ...credentials] */
  private handle(frames: Buffer[]): Array<Buffer | string> | undefined {
    if (frames.length < 8 || frames[1]!.length !== 0) return undefined; // not a ZAP request
    const [rid, , version, requestId, domain, address, , mechanism, ...credentials] = frames as [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, Buffer, ...Buffer[]];
    const answer = (code: string, text: string, userId = "") => [rid, Buffer.alloc(0), "1.0", requestId, code, text, userId, Buffer.alloc(0)];
    if (version.toString() !== "1.0") return answer("400", "unsupported ZAP version");
    const mech = mechanism.toString();
    const key = mech === "CURVE" && credentials[0]?.length === 32 ? z85Encode(credentials[0]) : undefined;
    if (key !== undefined && this.keys.has(key)) {
      this.counts.accepted++;
      return answer("200", "OK", key);
    }
    this.counts.refused++;
    const who = key ?? `(${mech} mechanism)`;
    if (!this.refusedLogged.has(who)) {
      if (this.refusedLogged.size < 1000) this.refusedLogged.add(who);
      this.logger?.warn({ publicKey: key, mechanism: mech, address: address.toString(), domain: domain.toString() }, "refused a connection: key not trusted");
    }
    return answer("400", key ? "key not trusted" : "mechanism not allowed");
  }

  private static shared: { zap: Promise<ZapAuthenticator>; users: number; keys: Map<string, number> } | undefined;

  /**
   * The process's one ZAP handler, shared by everything in it that serves
   * CURVE (libzmq allows one per context): each user adds the keys it trusts
   * and `release`s them when done; the handler closes with its last user.
   */
  static async acquire(trusted: Iterable<string>, logger?: Logger): Promise<{ zap: ZapAuthenticator; release: () => Promise<void> }> {
    // A handler just closed may hold the endpoint a moment longer: try a few times.
    const start = async (): Promise<ZapAuthenticator> => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await ZapAuthenticator.start({ logger });
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    };
    const shared = (ZapAuthenticator.shared ??= { zap: start(), users: 0, keys: new Map() });
    shared.users++;
    let zap: ZapAuthenticator;
    try {
      zap = await shared.zap;
    } catch (err) {
      // A failed start is not kept: the next acquire tries again.
      if (--shared.users === 0 && ZapAuthenticator.shared === shared) ZapAuthenticator.shared = undefined;
      throw err;
    }
    const mine = [...new Set(trusted)];
    for (const k of mine) {
      shared.keys.set(k, (shared.keys.get(k) ?? 0) + 1);
      zap.trust(k);
    }
    let released = false;
    return {
      zap,
      release: async () => {
        if (released) return;
        released = true;
        for (const k of mine) {
          const n = (shared.keys.get(k) ?? 1) - 1;
          if (n > 0) shared.keys.set(k, n);
          else {
            shared.keys.delete(k);
            zap.distrust(k);
          }
        }
        if (--shared.users === 0) {
          ZapAuthenticator.shared = undefined;
          await zap.close();
        }
      },
    };
  }
}
