/**
 * Follows one job live over WS /ws/{id}: its first message is the whole job, later ones the whole job
 * at every change and small progress updates, so nothing is fetched while the socket is up. When the
 * socket drops, it reconnects with exponential backoff and, only meanwhile, polls GET /api/jobs/{id}; the moment
 * a poll answers (the server is back) it reconnects without waiting out the backoff.
 * Everything heard goes into the query cache (the job's view and its history entry); the panel reads it.
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError, reportUnauthorised } from "../../../api/client";
import { getJob } from "../../../api/jobs";
import { jobQuery, writeJob } from "../../../api/queries";
import { jobSocketUrl, parseWsMessage, WS_CLOSE } from "../../../api/socket";
import { isTerminal, type Job } from "../../../api/types";
import { useReconnectingSocket, useReconnectWhenBack, type SocketLike } from "../../../hooks/useReconnectingSocket";
import { applyProgress, jobOf, mergeJob, previewOf, type Connection, type JobWatch, type Preview } from "../lib/jobState";

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

export const POLL_INTERVAL_MS = 1_000;

const isNotFound = (error: unknown) => error instanceof ApiError && error.status === 404;
const finished = (query: { state: { data: Job | undefined; error: unknown } }) =>
  (query.state.data !== undefined && isTerminal(query.state.data.status)) || isNotFound(query.state.error);

export function useJobWatcher(jobId: string | null, deps: WatcherDeps = defaultWatcherDeps): JobWatch {
  const client = useQueryClient();
  // Tagged with its job, so another job never shows this one's picture.
  const [latestPreview, setLatestPreview] = useState<{ jobId: string; preview: Preview } | null>(null);
  // What the cache knows now (the query below re-renders on every change): a finished job needs no socket.
  const known = jobId !== null ? client.getQueryState<Job>(jobQuery(jobId).queryKey) : undefined;

  const socket = useReconnectingSocket({
    url: jobId !== null ? deps.socketUrl(jobId) : null,
    enabled: !(known && finished({ state: known })),
    createSocket: deps.createSocket,
    onUnauthorised: deps.onUnauthorised,
    // An unknown (or deleted) job: nothing to reconnect to.
    onClose: (code) => code === WS_CLOSE.unknown_job,
    onMessage: (data, close) => {
      const message = parseWsMessage(data);
      if (jobId === null || !message || message.job_id !== jobId) return;
      if (message.type === "progress") {
        // Small and frequent: only the job's view changes, the history entry does not need it.
        client.setQueryData(jobQuery(jobId).queryKey, (current) => applyProgress(current, message));
        const preview = previewOf(message);
        if (preview) setLatestPreview({ jobId, preview });
        return;
      }
      writeJob(client, jobOf(message));
      // The whole job came with it; the server closes next, which is no reason to reconnect.
      if (isTerminal(message.status)) close();
    },
  });
  const down = jobId !== null && socket.state === "down";

  const query = useQuery({
    ...jobQuery(jobId ?? ""),
    queryFn: async ({ signal, client: c, queryKey }) => mergeJob(c.getQueryData(queryKey), await deps.fetchJob(jobId ?? "", signal)),
    // The fallback: only while the socket is down, and never again once the job has finished.
    enabled: (q) => down && !finished(q),
    refetchInterval: (q) => (finished(q) ? false : POLL_INTERVAL_MS),
    retry: false,
  });
  useReconnectWhenBack(down, query.dataUpdatedAt, query.errorUpdatedAt, socket.reconnectNow);

  const job = jobId !== null ? (query.data ?? null) : null;
  const notFound = jobId !== null && (socket.state === "gone" || isNotFound(query.error));
  const stopped = jobId === null || notFound || (job !== null && isTerminal(job.status));
  const connection: Connection = stopped || socket.state === "gone" ? "idle" : socket.state === "down" ? "polling" : socket.state;
  const preview = latestPreview && latestPreview.jobId === jobId ? latestPreview.preview : null;
  return { jobId, job, connection, notFound, preview };
}
