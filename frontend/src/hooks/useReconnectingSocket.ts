/**
 * One WebSocket kept open: reconnects with exponential backoff when it drops, reports 1008 (no valid key or
 * session) to whoever shows the sign-in, and can be told to connect at once (see useReconnectWhenBack). Both
 * live feeds use it: the queue (WS /ws) and the job on screen (WS /ws/{id}); each says what its frames mean.
 */
import { useEffect, useRef, useState } from "react";
import { WS_CLOSE } from "../api/socket";

/** The part of WebSocket we use, so tests can hand in a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

export const RECONNECT_INITIAL_MS = 500;
export const RECONNECT_MAX_MS = 10_000;

/** Delay before reconnect attempt number `attempt` (0-based): 0.5s, 1s, 2s, 4s, 8s, 10s, 10s… */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** attempt);
}

/** "down" once a connection failed or dropped, until the next one opens; "gone" once `onClose` said stop. */
export type SocketState = "connecting" | "live" | "down" | "gone";

export interface SocketOptions {
  /** Where to connect; null: no socket. A new URL starts again from "connecting". */
  url: string | null;
  /** False: no socket now, though its last state (say "gone") stays readable. Default true. */
  enabled?: boolean;
  createSocket: (url: string) => SocketLike;
  /** A frame arrived; `close` ends the connection without a reconnect (the feed heard all it needs). */
  onMessage: (data: unknown, close: () => void) => void;
  /** A connection opened; `afterDrop` when an earlier one of this URL failed or dropped (state may be stale). */
  onOpen?: (afterDrop: boolean) => void;
  /** The server closed with `code`; return true to stop for good (no reconnect), as for an unknown job. */
  onClose?: (code: number) => boolean;
  /** The server refused the socket (close 1008). Should the page stay, the usual backoff applies. */
  onUnauthorised?: () => void;
}

export interface ReconnectingSocket {
  state: SocketState;
  /** Connect now, without waiting out the backoff (a no-op while connected or connecting). */
  reconnectNow: () => void;
}

export function useReconnectingSocket(options: SocketOptions): ReconnectingSocket {
  const { url, createSocket, enabled = true } = options;
  // Tagged with its URL, so a new URL starts from "connecting" without an effect resetting it.
  const [tagged, setTagged] = useState<{ url: string | null; state: SocketState }>({ url, state: "connecting" });
  // The latest handlers, read when a frame arrives: a new callback does not reconnect.
  const handlers = useRef(options);
  useEffect(() => {
    handlers.current = options;
  });
  const reconnect = useRef<() => void>(() => {});

  useEffect(() => {
    if (url === null || !enabled) return;
    const target = url; // narrowed, for the callbacks below
    let disposed = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let dropped = false;
    const report = (state: SocketState) => setTagged((t) => (t.url === target && t.state === state ? t : { url: target, state }));

    const closeSocket = () => {
      const s = socket;
      socket = null; // before close(), so its onclose is ignored
      s?.close(WS_CLOSE.normal);
    };

    reconnect.current = () => {
      if (disposed || socket !== null) return; // already trying (or connected)
      clearTimeout(timer);
      attempt = 0;
      connect();
    };

    const reconnectLater = () => {
      dropped = true;
      report("down");
      clearTimeout(timer);
      timer = setTimeout(connect, reconnectDelay(attempt));
      attempt += 1;
    };

    function connect() {
      if (disposed) return;
      let ws: SocketLike;
      try {
        ws = createSocket(target);
      } catch {
        reconnectLater();
        return;
      }
      socket = ws;
      ws.onopen = () => {
        if (socket !== ws) return;
        attempt = 0;
        report("live");
        handlers.current.onOpen?.(dropped);
        dropped = false;
      };
      ws.onmessage = (event) => {
        if (socket !== ws) return;
        handlers.current.onMessage(event.data, closeSocket);
      };
      ws.onerror = () => {
        // A close event always follows; handled there.
      };
      ws.onclose = (event) => {
        if (socket !== ws) return;
        socket = null;
        if (disposed) return;
        if (handlers.current.onClose?.(event.code)) {
          report("gone");
          return;
        }
        if (event.code === WS_CLOSE.not_authorised) handlers.current.onUnauthorised?.();
        reconnectLater();
      };
    }

    connect();
    return () => {
      disposed = true;
      reconnect.current = () => {};
      clearTimeout(timer);
      closeSocket();
    };
  }, [url, enabled, createSocket]);

  const state = url !== null && tagged.url === url ? tagged.state : "connecting";
  return { state, reconnectNow: () => reconnect.current() };
}

/**
 * While `down`, a cheap read of the server (health, or the job's GET) runs; the moment it answers after a failed
 * read, the server is back, so connect now. (A socket refused by a server that answers keeps its backoff: no
 * tight loop.) `answeredAt` / `failedAt`: the read's dataUpdatedAt and errorUpdatedAt.
 */
export function useReconnectWhenBack(down: boolean, answeredAt: number, failedAt: number, reconnectNow: () => void): void {
  const lastAnswer = useRef(answeredAt);
  const reconnectRef = useRef(reconnectNow);
  useEffect(() => {
    reconnectRef.current = reconnectNow;
  });
  useEffect(() => {
    if (answeredAt === lastAnswer.current) return;
    const before = lastAnswer.current;
    lastAnswer.current = answeredAt;
    if (down && failedAt > before) reconnectRef.current();
  }, [down, answeredAt, failedAt]);
}
