/**
 * Follows one job live: WebSocket first, reconnecting with exponential backoff; while the socket is
 * down, GET /api/jobs/{id} every second so the page never stalls. Stops at a terminal state.
 */
import { useCallback, useEffect, useReducer } from "react";
import { ApiError } from "../api/client";
import { getJob } from "../api/jobs";
import { jobSocketUrl, parseWsMessage, WS_UNKNOWN_JOB } from "../api/socket";
import { isTerminal, type Job, type WsMessage } from "../api/types";
import { initialJobView, jobViewReducer, type JobView } from "../lib/jobState";

/** The part of WebSocket we use, so tests can hand in a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(code?: number, reason?: string): void;
}

export interface WatcherDeps {
  createSocket: (url: string) => SocketLike;
  fetchJob: (jobId: string) => Promise<Job>;
  socketUrl: (jobId: string) => string;
}

export const defaultWatcherDeps: WatcherDeps = {
  createSocket: (url) => new WebSocket(url),
  fetchJob: (jobId) => getJob(jobId),
  socketUrl: (jobId) => jobSocketUrl(jobId),
};

export const RECONNECT_INITIAL_MS = 500;
export const RECONNECT_MAX_MS = 10_000;
export const POLL_INTERVAL_MS = 1_000;

/** Delay before reconnect attempt number `attempt` (0-based): 0.5s, 1s, 2s, 4s, 8s, 10s, 10s… */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** attempt);
}

function endsJob(msg: WsMessage): boolean {
  return isTerminal(msg.status);
}

export function useJobWatcher(jobId: string | null, deps: WatcherDeps = defaultWatcherDeps) {
  const [view, dispatch] = useReducer(jobViewReducer, initialJobView);

  useEffect(() => {
    dispatch({ type: "watch", jobId });
    if (!jobId) return;

    let disposed = false;
    let finished = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    let polling = false;

    const closeSocket = () => {
      const s = socket;
      socket = null; // before close(), so its onclose is ignored
      s?.close(1000);
    };

    const stopPolling = () => {
      polling = false;
      clearTimeout(pollTimer);
      pollTimer = undefined;
    };

    const finish = () => {
      finished = true;
      stopPolling();
      clearTimeout(reconnectTimer);
      closeSocket();
      dispatch({ type: "connection", connection: "idle" });
    };

    const resync = async () => {
      try {
        const job = await deps.fetchJob(jobId);
        if (disposed) return;
        dispatch({ type: "job", job });
        if (isTerminal(job.status)) finish();
      } catch (error) {
        if (disposed) return;
        if (error instanceof ApiError && error.status === 404) {
          dispatch({ type: "not_found" });
          finish();
        }
        // Other failures: the socket or the next poll will try again.
      }
    };

    const startPolling = () => {
      if (polling || finished) return;
      polling = true;
      dispatch({ type: "connection", connection: "polling" });
      const tick = async () => {
        await resync();
        if (polling && !finished && !disposed) pollTimer = setTimeout(tick, POLL_INTERVAL_MS);
      };
      void tick();
    };

    const scheduleReconnect = () => {
      clearTimeout(reconnectTimer);
      reconnectTimer = setTimeout(connect, reconnectDelay(attempt));
      attempt += 1;
    };

    function connect() {
      if (disposed || finished) return;
      let ws: SocketLike;
      try {
        ws = deps.createSocket(deps.socketUrl(jobId!));
      } catch {
        startPolling();
        scheduleReconnect();
        return;
      }
      socket = ws;
      ws.onopen = () => {
        if (socket !== ws) return;
        attempt = 0;
        stopPolling();
        dispatch({ type: "connection", connection: "live" });
      };
      ws.onmessage = (event) => {
        if (socket !== ws) return;
        const message = parseWsMessage(event.data);
        if (!message) return;
        dispatch({ type: "message", message });
        // The terminal event lacks the full record (seed, finish time): fetch it once.
        if (endsJob(message)) void resync();
      };
      ws.onerror = () => {
        // A close event always follows; handled there.
      };
      ws.onclose = (event) => {
        if (socket !== ws) return;
        socket = null;
        if (disposed || finished) return;
        if (event.code === WS_UNKNOWN_JOB) {
          dispatch({ type: "not_found" });
          finish();
          return;
        }
        startPolling();
        scheduleReconnect();
      };
    }

    dispatch({ type: "connection", connection: "connecting" });
    void resync();
    connect();

    return () => {
      disposed = true;
      stopPolling();
      clearTimeout(reconnectTimer);
      closeSocket();
    };
    // deps is expected to be stable (module default or a test fake)
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [jobId]);

  /** Apply a record we already have (e.g. the answer to a cancel request). */
  const applyJob = useCallback((job: Job) => dispatch({ type: "job", job }), []);

  return { view: view as JobView, applyJob };
}
