/**
 * Follows WS /ws: this user's queued and running jobs (with queue positions), the queue's length, and
 * every change to them, so the queue strip and the header's count need no polling. Whole-job messages go
 * into the query cache like the job watcher's (history entries, the job on screen); progress messages
 * update the running job and its preview, and a whole-job message updates (or, once it ended, removes) its
 * chip at once, so the strip shows what the server says even before the next `active` list. Reconnects with the
 * job watcher's backoff; while it is down the page is offline as far as it knows, asks /api/health every
 * OFFLINE_PROBE_MS, and reconnects the moment the server answers (the first `active` list then tells the
 * whole state again).
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { reportUnauthorised } from "../../../api/client";
import { activitySocketUrl, parseActivityMessage, WS_NOT_AUTHORISED } from "../../../api/socket";
import { isTerminal, type Job, type JobMessage } from "../../../api/types";
import { applyProgress, jobOf, mergeJob, previewOf, type Preview } from "../../job/lib/jobState";
import { healthQuery, JOB_LISTS, jobQuery, OFFLINE_PROBE_MS, writeJob } from "../../../api/queries";
import { reconnectDelay, type SocketLike } from "../../job/hooks/useJobWatcher";

export interface Activity {
  /** The user's queued and running jobs, oldest first; null until the socket first answers. */
  jobs: Job[] | null;
  /** Everyone's queued jobs; null until known. */
  queueLength: number | null;
  /** "down" once a connection failed or dropped, until the next one opens. */
  state: "connecting" | "live" | "down";
  /** The latest small picture of each running job, by id (only over the socket, never stored). */
  previews: Record<string, Preview>;
}

const IDLE: Activity = { jobs: null, queueLength: null, state: "connecting", previews: {} };

export interface ActivityDeps {
  createSocket: (url: string) => SocketLike;
  url: () => string;
}

export const defaultActivityDeps: ActivityDeps = {
  createSocket: (url) => new WebSocket(url),
  url: () => activitySocketUrl(),
};

/**
 * `enabled`: only with a session (or on an open server): the socket is refused otherwise.
 * `onJobMessage`: every whole-job message heard (for notifications), after it is in the cache.
 */
export function useActivity(
  enabled: boolean,
  onJobMessage?: (message: JobMessage) => void,
  deps: ActivityDeps = defaultActivityDeps,
): Activity {
  const client = useQueryClient();
  const [activity, setActivity] = useState<Activity>({ jobs: null, queueLength: null, state: "connecting", previews: {} });
  const listener = useRef(onJobMessage);
  useEffect(() => {
    listener.current = onJobMessage;
  }, [onJobMessage]);
  // Set by the socket's effect: try again now (the server answered while the socket waited out its backoff).
  const reconnectNow = useRef<(() => void) | null>(null);
  const down = enabled && activity.state === "down";
  // While down, ask the server (cheaply, and publicly) whether it is back: the moment it answers, reconnect.
  const { dataUpdatedAt: answeredAt, errorUpdatedAt: failedAt } = useQuery({ ...healthQuery, enabled: down, refetchInterval: down ? OFFLINE_PROBE_MS : false });
  const lastAnswer = useRef(answeredAt);
  useEffect(() => {
    if (answeredAt === lastAnswer.current) return;
    const before = lastAnswer.current;
    lastAnswer.current = answeredAt;
    // The server could not be reached (a read failed since its last answer) and answers again: it is back, so
    // connect now. (A socket refused by a server that answers keeps its backoff: no tight loop.)
    if (down && failedAt > before) reconnectNow.current?.();
  }, [down, answeredAt, failedAt]);

  useEffect(() => {
    if (!enabled) return;
    let disposed = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wasDown = false;

    reconnectNow.current = () => {
      if (disposed || socket !== null) return; // already trying (or connected)
      clearTimeout(timer);
      attempt = 0;
      connect();
    };

    const down = () => {
      wasDown = true;
      setActivity((a) => (a.state === "down" ? a : { ...a, state: "down" }));
      clearTimeout(timer);
      timer = setTimeout(connect, reconnectDelay(attempt));
      attempt += 1;
    };

    function connect() {
      if (disposed) return;
      let ws: SocketLike;
      try {
        ws = deps.createSocket(deps.url());
      } catch {
        down();
        return;
      }
      socket = ws;
      ws.onopen = () => {
        if (socket !== ws) return;
        attempt = 0;
        setActivity((a) => ({ ...a, state: "live" }));
        // Back after a drop: jobs may have ended meanwhile, so the history is read again (the strip and the
        // job on screen hear the whole state from their sockets' first messages).
        if (wasDown) void client.invalidateQueries({ queryKey: JOB_LISTS });
        wasDown = false;
      };
      ws.onmessage = (event) => {
        if (socket !== ws) return;
        const message = parseActivityMessage(event.data);
        if (!message) return;
        if (message.type === "active") {
          const ids = new Set(message.jobs.map((j) => j.job_id));
          setActivity((a) => ({
            ...a,
            state: "live",
            jobs: message.jobs,
            queueLength: message.queue_length,
            previews: Object.fromEntries(Object.entries(a.previews).filter(([id]) => ids.has(id))),
          }));
          for (const job of message.jobs) writeJob(client, job);
          return;
        }
        if (message.type === "progress") {
          client.setQueryData(jobQuery(message.job_id).queryKey, (current) => applyProgress(current, message));
          const preview = previewOf(message);
          setActivity((a) => ({
            ...a,
            jobs: a.jobs?.map((j) => (j.job_id === message.job_id ? (applyProgress(j, message) ?? j) : j)) ?? null,
            previews: preview ? { ...a.previews, [message.job_id]: preview } : a.previews,
          }));
          return;
        }
        const job = jobOf(message);
        writeJob(client, job);
        setActivity((a) => ({ ...a, jobs: a.jobs && foldJob(a.jobs, job) }));
        listener.current?.(message);
      };
      ws.onerror = () => {};
      ws.onclose = (event) => {
        if (socket !== ws) return;
        socket = null;
        if (disposed) return;
        if (event.code === WS_NOT_AUTHORISED) reportUnauthorised();
        down();
      };
    }

    connect();
    return () => {
      disposed = true;
      reconnectNow.current = null;
      clearTimeout(timer);
      const s = socket;
      socket = null;
      s?.close(1000);
    };
  }, [client, deps, enabled]);

  return enabled ? activity : IDLE;
}

/** The strip's jobs after a whole-job message: an ended job leaves, a listed one changes; a job not listed waits
 * for the next `active` list, which places it in the queue. */
export function foldJob(jobs: Job[], job: Job): Job[] {
  const index = jobs.findIndex((j) => j.job_id === job.job_id);
  if (index < 0) return jobs;
  if (isTerminal(job.status)) return jobs.filter((j) => j.job_id !== job.job_id);
  const next = [...jobs];
  next[index] = mergeJob(jobs[index], job);
  return next;
}
