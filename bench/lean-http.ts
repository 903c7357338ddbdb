/**
 * A lean HTTP/1.1 client for the load generator: one kept-alive TCP
 * connection, one request at a time (a user waiting for each answer), the
 * request head built once, the answer read by its status line and
 * Content-Length. It stands in for 32 independent users without spending
 * node:http's per-request machinery (IncomingMessage, ClientRequest, the
 * agent), so the bench measures the server rather than its clients:
 * node:http's client cost 0.35 ms of CPU per request here, this one a small
 * part of that (docs/performance.md). It handles only what the registry
 * answers: Content-Length bodies, no chunked encoding, no redirects.
 */
import net from "node:net";

export interface LeanAnswer {
  status: number;
  body: string;
}

export class LeanHttpConnection {
  private readonly socket: net.Socket;
  private readonly ready: Promise<void>;
  private buffer: Buffer = Buffer.alloc(0);
  private pending: { resolve: (a: LeanAnswer) => void; reject: (e: Error) => void } | undefined;
  private failed: Error | undefined;

  constructor(
    host: string,
    port: number,
    private readonly headers: string,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", resolve);
      this.socket.once("error", reject);
    });
    this.socket.on("data", (chunk: Buffer) => this.onData(chunk));
    const fail = (err: Error) => {
      this.failed = err;
      this.pending?.reject(err);
      this.pending = undefined;
    };
    this.socket.on("error", fail);
    this.socket.on("close", () => fail(new Error("the server closed the connection")));
  }

  /** POSTs a JSON body; resolves with the answer (any status). */
  async post(path: string, json: string): Promise<LeanAnswer> {
    await this.ready;
    if (this.failed) throw this.failed;
    if (this.pending) throw new Error("one request at a time on a connection");
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      // Head and body in one write: one segment per request on the wire.
      this.socket.write(`POST ${path} HTTP/1.1\r\n${this.headers}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0 || !this.pending) return;
    const head = this.buffer.toString("latin1", 0, end);
    const status = Number(head.slice(9, 12));
    const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (!m) {
      this.pending.reject(new Error(`an answer without Content-Length: ${head.split("\r\n")[0]}`));
      this.pending = undefined;
      return;
    }
    const length = Number(m[1]);
    if (this.buffer.length < end + 4 + length) return;
    const body = this.buffer.toString("utf8", end + 4, end + 4 + length);
    this.buffer = this.buffer.subarray(end + 4 + length);
    const p = this.pending;
    this.pending = undefined;
    p.resolve({ status, body });
  }
}
