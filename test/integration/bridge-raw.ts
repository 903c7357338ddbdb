/**
 * The project's raw WebSocket test client for the bridge: every frame it
 * gets is queued and the test takes them in order, so tests check the exact
 * frames of the wire, and can answer as the reference client does.
 */
import WebSocket from "ws";

export const KEY = "test-key-1";

/** A raw JSON-RPC socket: every frame it gets is queued; the test takes them in order. */
export class Raw {
  readonly frames: any[] = [];
  private waiters: Array<() => void> = [];
  closeCode: number | undefined;
  readonly closed: Promise<number>;
  constructor(readonly ws: WebSocket) {
    ws.on("message", (d) => {
      this.frames.push(JSON.parse(d.toString()));
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) =>
      ws.on("close", (code) => {
        this.closeCode = code;
        resolve(code);
        for (const w of this.waiters.splice(0)) w();
      }),
    );
  }
  static open(url: string, key: string | undefined = KEY, headers: Record<string, string> = {}): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { ...(key ? { Authorization: `Api-Key ${key}` } : {}), ...headers } });
      const raw = new Raw(ws);
      ws.once("open", () => resolve(raw));
      ws.once("unexpected-response", (_q, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })));
      ws.once("error", reject);
    });
  }
  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }
  /** The next frame matching `pred` (removed from the queue). */
  async next(pred: (f: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0];
      if (this.closeCode !== undefined) throw new Error(`socket closed (${this.closeCode}) while waiting`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(this.frames)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, left);
      });
    }
  }
  reply(id: unknown): Promise<any> {
    return this.next((f) => f.id === id && !("method" in f));
  }
  async call(method: string, params: unknown, id: string | number = `r${Math.random()}`): Promise<any> {
    this.send({ jsonrpc: "2.0", method, params, id });
    return this.reply(id);
  }
  /** Answers every create_node / create_edge as the reference client does. */
  autoMirror(): void {
    this.ws.on("message", (d) => {
      const f = JSON.parse(d.toString());
      if (f.method === "create_node" || f.method === "create_edge") {
        this.send({ jsonrpc: "2.0", id: f.id, result: { message: "Ok" } });
        const i = this.frames.indexOf(f);
        void i;
      }
    });
  }
  close(): void {
    this.ws.close();
  }
}


