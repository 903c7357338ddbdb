/**
 * WebSocket at the byte level, for tests that must send what no well-behaved
 * library would (bad request targets, bad frames, a client that never reads)
 * and see exactly what the server wrote: an upgrade request builder, a client
 * frame encoder (RFC 6455, masked), and a reader of the server's bytes
 * (HTTP head, then frames).
 */
import { randomBytes } from "node:crypto";
import net from "node:net";

export const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

export interface UpgradeOptions {
  path?: string;
  host?: string;
  headers?: Record<string, string>;
  /** Leave out the standard WebSocket headers (to send a broken upgrade). */
  bare?: boolean;
}

/** An upgrade request as bytes on the wire; `path` is sent verbatim. */
export function upgradeRequest(opts: UpgradeOptions = {}): string {
  const lines = [`GET ${opts.path ?? "/"} HTTP/1.1`, `Host: ${opts.host ?? "x"}`];
  if (!opts.bare) {
    lines.push("Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13");
  }
  for (const [k, v] of Object.entries(opts.headers ?? {})) lines.push(`${k}: ${v}`);
  return `${lines.join("\r\n")}\r\n\r\n`;
}

export interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  /** Clients must mask; false sends an unmasked frame (a protocol error). */
  mask?: boolean;
}

/** One client frame (masked unless told otherwise). */
export function clientFrame(opcode: number, payload: Buffer | string, opts: FrameOptions = {}): Buffer {
  const data = typeof payload === "string" ? Buffer.from(payload, "utf8") : payload;
  const mask = opts.mask ?? true;
  const len = data.length;
  const head: number[] = [((opts.fin ?? true) ? 0x80 : 0) | ((opts.rsv ?? 0) << 4) | (opcode & 0x0f)];
  const m = mask ? 0x80 : 0;
  let ext = Buffer.alloc(0);
  if (len < 126) head.push(m | len);
  else if (len < 65536) {
    head.push(m | 126);
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head.push(m | 127);
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, data]);
  const key = randomBytes(4);
  const body = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) body[i] = data[i]! ^ key[i & 3]!;
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

export const textFrame = (text: string, opts?: FrameOptions): Buffer => clientFrame(OP.text, text, opts);

export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Parses the server's bytes: the HTTP head first, then unmasked frames; returns what is complete and keeps the rest. */
export class ServerReader {
  private buf = Buffer.alloc(0);
  head: string | undefined;
  readonly frames: ServerFrame[] = [];

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    if (this.head === undefined) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.buf.subarray(0, end).toString("latin1");
      this.buf = this.buf.subarray(end + 4);
      if (!this.head.startsWith("HTTP/1.1 101")) return;
    }
    for (;;) {
      const f = parseFrame(this.buf);
      if (!f) return;
      this.frames.push(f.frame);
      this.buf = this.buf.subarray(f.size);
    }
  }

  /** The HTTP status of the head, once read. */
  get status(): number | undefined {
    return this.head === undefined ? undefined : Number(this.head.split(" ")[1]);
  }

  /** Bytes after the head that do not yet make a whole frame. */
  get pending(): number {
    return this.buf.length;
  }
}

function parseFrame(buf: Buffer): { frame: ServerFrame; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  let len = b1 & 0x7f;
  let off = 2;
  if (len === 126) {
    if (buf.length < 4) return undefined;
    len = buf.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (buf.length < 10) return undefined;
    len = Number(buf.readBigUInt64BE(2));
    off = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) off += 4;
  if (buf.length < off + len) return undefined;
  return { frame: { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, payload: Buffer.from(buf.subarray(off, off + len)) }, size: off + len };
}

/** A TCP connection to 127.0.0.1:port, resolved once connected. */
export function connectTcp(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
}

/** Sends bytes and collects the answer until the server closes or `timeoutMs` passes. */
export async function exchange(port: number, bytes: string | Buffer, timeoutMs = 3000): Promise<{ data: Buffer; closedByServer: boolean }> {
  const s = await connectTcp(port);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve({ data: Buffer.concat(chunks), closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on("data", (c) => chunks.push(c));
    s.on("end", () => finish(true));
    s.on("close", () => finish(true));
    s.on("error", () => finish(true));
    s.write(bytes);
  });
}

/**
 * Sends bytes and resolves with the server's first response head (up to the
 * blank line) and whatever came with it, or with what arrived when the server
 * closed or `timeoutMs` passed. The socket is destroyed after.
 */
export async function firstResponse(port: number, bytes: string | Buffer, timeoutMs = 2000): Promise<{ data: Buffer; head: string | undefined; closedByServer: boolean }> {
  const s = await connectTcp(port);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const data = Buffer.concat(chunks);
      const end = data.indexOf("\r\n\r\n");
      resolve({ data, head: end >= 0 ? data.subarray(0, end).toString("latin1") : undefined, closedByServer });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    s.on("data", (c) => {
      chunks.push(c);
      if (Buffer.concat(chunks).includes("\r\n\r\n")) finish(false);
    });
    s.on("end", () => finish(true));
    s.on("close", () => finish(true));
    s.on("error", () => finish(true));
    s.write(bytes);
  });
}
