/**
 * The page's one WebSocket to the feed. It sends the key (when the server
 * asks for one) and hands every message on; it reconnects after a drop
 * (1 s, doubling up to 10 s), but never after a refused key.
 */
import type { ServerMessage } from "../../src/bridge/dashboard/messages.ts";

export const FEED_PATH = "/ws/v0/dashboard";
const CLOSE_BAD_KEY = 4401;
const KEY_ITEM = "tubular.dashboard.key";

export type LinkState = "connecting" | "open" | "need-key" | "refused" | "down";

export const storedKey = {
  get: (): string | null => sessionStorage.getItem(KEY_ITEM),
  set: (key: string) => sessionStorage.setItem(KEY_ITEM, key),
  clear: () => sessionStorage.removeItem(KEY_ITEM),
};

export interface ConnectionEvents {
  onMessage(m: ServerMessage): void;
  onLink(state: LinkState): void;
}

export class Connection {
  private ws: WebSocket | undefined;
  private delay = 1000;
  private retry: number | undefined;
  private stopped = false;

  constructor(private readonly events: ConnectionEvents) {}

  open(): void {
    this.stopped = false;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.ws?.close();
    const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${FEED_PATH}`;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.events.onLink("connecting");
    ws.onmessage = (e) => {
      const m = JSON.parse(String(e.data)) as ServerMessage;
      if (m.type === "hello") {
        if (m.auth) {
          const key = storedKey.get();
          if (!key) {
            this.stopped = true;
            ws.close();
            this.events.onLink("need-key");
            return;
          }
          ws.send(JSON.stringify({ type: "auth", key }));
        }
        this.delay = 1000;
        this.events.onMessage(m);
        return;
      }
      this.events.onLink("open");
      this.events.onMessage(m);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      if (e.code === CLOSE_BAD_KEY) {
        storedKey.clear();
        this.stopped = true;
        this.events.onLink("refused");
        return;
      }
      if (this.stopped) return;
      this.events.onLink("down");
      this.retry = window.setTimeout(() => this.open(), this.delay);
      this.delay = Math.min(this.delay * 2, 10_000);
    };
  }

  /** Sends a message to the feed when it is open (the app sends its choices again after a reconnect). */
  send(message: { type: string } & Record<string, unknown>): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  close(): void {
    this.stopped = true;
    this.ws?.close();
  }
}
