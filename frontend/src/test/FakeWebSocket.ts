import type { SocketLike } from "../hooks/useJobWatcher";

/** A WebSocket the test drives by hand: open it, push frames, close it with a code. */
export class FakeWebSocket implements SocketLike {
  static instances: FakeWebSocket[] = [];
  static reset() {
    FakeWebSocket.instances = [];
  }
  static get last(): FakeWebSocket {
    const ws = FakeWebSocket.instances.at(-1);
    if (!ws) throw new Error("no socket was created");
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
