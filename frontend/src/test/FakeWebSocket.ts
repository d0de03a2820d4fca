import type { SocketLike } from "../hooks/useReconnectingSocket";

const isActivity = (url: string) => /\/ws$/.test(url);

/** A WebSocket the test drives by hand: open it, push frames, close it with a code. */
export class FakeWebSocket implements SocketLike {
  static instances: FakeWebSocket[] = [];
  static reset() {
    FakeWebSocket.instances = [];
  }
  /** The latest job socket (/ws/{id}); the page's activity socket (/ws) is `activity`. */
  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.filter((s) => !isActivity(s.url)).at(-1);
    if (!ws) throw new Error("no socket was created");
    return ws;
  }
  static get activity(): FakeWebSocket {
    const ws = FakeWebSocket.instances.filter((s) => isActivity(s.url)).at(-1);
    if (!ws) throw new Error("no activity socket was created");
    return ws;
  }

  onopen: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closedByClient = false;

  constructor(readonly url: string) {
    FakeWebSocket.instances.push(this);
  }

  close() {
    this.closedByClient = true;
  }

  open() {
    this.onopen?.(new Event("open"));
  }

  send(message: unknown) {
    this.onmessage?.(new MessageEvent("message", { data: JSON.stringify(message) }));
  }

  /** The server (or network) ends the connection. */
  drop(code = 1006, reason = "") {
    this.onerror?.(new Event("error"));
    this.onclose?.(new CloseEvent("close", { code, reason }));
  }
}
