/**
 * Follows one job live over WS /ws/{id}: its first message is the whole job, later ones the whole job
 * at every change and small progress updates, so nothing is fetched while the socket is up. When the
 * socket drops, it reconnects with exponential backoff and, only meanwhile, polls GET /api/jobs/{id}; the moment
 * a poll answers (the server is back) it reconnects without waiting out the backoff.
 * Everything heard goes into the query cache (the job's view and its history entry); the panel reads it.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { ApiError, reportUnauthorised } from "../../../api/client";
import { getJob } from "../../../api/jobs";
import { jobSocketUrl, parseWsMessage, WS_NOT_AUTHORISED, WS_UNKNOWN_JOB } from "../../../api/socket";
import { isTerminal, type Job } from "../../../api/types";
import { applyProgress, jobOf, mergeJob, previewOf, type Connection, type JobWatch, type Preview } from "../lib/jobState";
import { jobQuery, writeJob } from "../../../api/queries";

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
  fetchJob: (jobId: string, signal?: AbortSignal) => Promise<Job>;
  socketUrl: (jobId: string) => string;
  /** The server refused the socket (close 1008: no valid key or session). */
  onUnauthorised?: () => void;
}

export const defaultWatcherDeps: WatcherDeps = {
  createSocket: (url) => new WebSocket(url),
  fetchJob: getJob,
  socketUrl: (jobId) => jobSocketUrl(jobId),
  onUnauthorised: reportUnauthorised,
};

export const RECONNECT_INITIAL_MS = 500;
export const RECONNECT_MAX_MS = 10_000;
export const POLL_INTERVAL_MS = 1_000;

/** Delay before reconnect attempt number `attempt` (0-based): 0.5s, 1s, 2s, 4s, 8s, 10s, 10s… */
export function reconnectDelay(attempt: number): number {
  return Math.min(RECONNECT_MAX_MS, RECONNECT_INITIAL_MS * 2 ** attempt);
}

/** The socket's state, tagged with its job so a new job starts from "connecting" without an effect resetting it. */
interface SocketState {
  jobId: string | null;
  state: "connecting" | "live" | "down";
  gone: boolean;
}

const isNotFound = (error: unknown) => error instanceof ApiError && error.status === 404;
const finished = (query: { state: { data: Job | undefined; error: unknown } }) =>
  (query.state.data !== undefined && isTerminal(query.state.data.status)) || isNotFound(query.state.error);

export function useJobWatcher(jobId: string | null, deps: WatcherDeps = defaultWatcherDeps): JobWatch {
  const client = useQueryClient();
  const [socketState, setSocketState] = useState<SocketState>({ jobId, state: "connecting", gone: false });
  // Tagged with its job like the socket's state, so another job never shows this one's picture.
  const [latestPreview, setLatestPreview] = useState<{ jobId: string; preview: Preview } | null>(null);
  const socket: SocketState = socketState.jobId === jobId ? socketState : { jobId, state: "connecting", gone: false };
  const down = jobId !== null && socket.state === "down" && !socket.gone;

  const query = useQuery({
    ...jobQuery(jobId ?? ""),
    queryFn: async ({ signal, client: c, queryKey }) => mergeJob(c.getQueryData(queryKey), await deps.fetchJob(jobId ?? "", signal)),
    // The fallback: only while the socket is down, and never again once the job has finished.
    enabled: (q) => down && !finished(q),
    refetchInterval: (q) => (finished(q) ? false : POLL_INTERVAL_MS),
    retry: false,
  });

  // Set by the socket's effect: connect now (a poll answered while the socket waited out its backoff).
  const reconnectNow = useRef<(() => void) | null>(null);
  const { dataUpdatedAt: answeredAt, errorUpdatedAt: failedAt } = query;
  const lastAnswer = useRef(answeredAt);
  useEffect(() => {
    if (answeredAt === lastAnswer.current) return;
    const before = lastAnswer.current;
    lastAnswer.current = answeredAt;
    // The server could not be reached (a read failed since its last answer) and answers again: it is back, so
    // connect now. (A socket refused by a server that answers keeps its backoff: no tight loop.)
    if (down && failedAt > before) reconnectNow.current?.();
  }, [down, answeredAt, failedAt]);

  const job = jobId !== null ? (query.data ?? null) : null;
  const notFound = jobId !== null && (socket.gone || isNotFound(query.error));
  const stopped = jobId === null || notFound || (job !== null && isTerminal(job.status));

  useEffect(() => {
    if (jobId === null || stopped) return;
    const id = jobId; // narrowed, for the callbacks below
    let disposed = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const report = (state: SocketState["state"], gone = false) => setSocketState({ jobId: id, state, gone });
    const { queryKey } = jobQuery(id);

    const closeSocket = () => {
      const s = socket;
      socket = null; // before close(), so its onclose is ignored
      s?.close(1000);
    };

    reconnectNow.current = () => {
      if (disposed || socket !== null) return;
      clearTimeout(timer);
      attempt = 0;
      connect();
    };

    const reconnectLater = () => {
      report("down");
      clearTimeout(timer);
      timer = setTimeout(connect, reconnectDelay(attempt));
      attempt += 1;
    };

    function connect() {
      if (disposed) return;
      let ws: SocketLike;
      try {
        ws = deps.createSocket(deps.socketUrl(id));
      } catch {
        reconnectLater();
        return;
      }
      socket = ws;
      ws.onopen = () => {
        if (socket !== ws) return;
        attempt = 0;
        report("live");
      };
      ws.onmessage = (event) => {
        if (socket !== ws) return;
        const message = parseWsMessage(event.data);
        if (!message || message.job_id !== id) return;
        if (message.type === "progress") {
          // Small and frequent: only the job's view changes, the history entry does not need it.
          client.setQueryData(queryKey, (current) => applyProgress(current, message));
          const preview = previewOf(message);
          if (preview) setLatestPreview({ jobId: id, preview });
          return;
        }
        writeJob(client, jobOf(message));
        // The whole job came with it; the server closes next, which is no reason to reconnect.
        if (isTerminal(message.status)) closeSocket();
      };
      ws.onerror = () => {
        // A close event always follows; handled there.
      };
      ws.onclose = (event) => {
        if (socket !== ws) return;
        socket = null;
        if (disposed) return;
        if (event.code === WS_UNKNOWN_JOB) {
          report("down", true);
          return;
        }
        // The session ended: the page goes back to the sign-in (which unmounts this). Should it not,
        // the usual backoff applies.
        if (event.code === WS_NOT_AUTHORISED) deps.onUnauthorised?.();
        reconnectLater();
      };
    }

    connect();
    return () => {
      disposed = true;
      reconnectNow.current = null;
      clearTimeout(timer);
      closeSocket();
    };
  }, [jobId, stopped, deps, client]);

  const connection: Connection = stopped ? "idle" : socket.state === "down" ? "polling" : socket.state;
  const preview = latestPreview && latestPreview.jobId === jobId ? latestPreview.preview : null;
  return { jobId, job, connection, notFound, preview };
}
