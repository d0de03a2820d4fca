/**
 * Follows WS /ws: this user's queued and running jobs (with queue positions), the queue's length, and
 * every change to them, so the queue strip and the header's count need no polling. Whole-job messages go
 * into the query cache like the job watcher's (history entries, the job on screen); progress messages
 * update the running job's chip (the job on screen hears its steps and previews from its own socket alone), and
 * a whole-job message updates (or, once it ended, removes) its chip at once, so the strip shows what the server
 * says even before the next `active` list. The socket is useReconnectingSocket's; while it is down the page is
 * offline as far as it knows, asks /api/health every OFFLINE_PROBE_MS, and reconnects the moment the server
 * answers (the first `active` list then tells the whole state again).
 */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { reportUnauthorised } from "../../../api/client";
import { healthQuery, JOB_LISTS, OFFLINE_PROBE_MS, writeJob } from "../../../api/queries";
import { activitySocketUrl, parseActivityMessage } from "../../../api/socket";
import { isTerminal, type Job, type JobMessage } from "../../../api/types";
import { useReconnectingSocket, useReconnectWhenBack, type SocketLike } from "../../../hooks/useReconnectingSocket";
import { applyProgress, jobOf, mergeJob } from "../../job/lib/jobState";

export interface Activity {
  /** The user's queued and running jobs, oldest first; null until the socket first answers. */
  jobs: Job[] | null;
  /** Everyone's queued jobs; null until known. */
  queueLength: number | null;
  /** "down" once a connection failed or dropped, until the next one opens. */
  state: "connecting" | "live" | "down";
}

const IDLE: Activity = { jobs: null, queueLength: null, state: "connecting" };

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
  const [feed, setFeed] = useState<Pick<Activity, "jobs" | "queueLength">>({ jobs: null, queueLength: null });
  const listener = useRef(onJobMessage);
  useEffect(() => {
    listener.current = onJobMessage;
  }, [onJobMessage]);

  const socket = useReconnectingSocket({
    url: deps.url(),
    enabled,
    createSocket: deps.createSocket,
    onUnauthorised: reportUnauthorised,
    // Back after a drop: jobs may have ended meanwhile, so the history is read again (the strip and the job on
    // screen hear the whole state from their sockets' first messages).
    onOpen: (afterDrop) => {
      if (afterDrop) void client.invalidateQueries({ queryKey: JOB_LISTS });
    },
    onMessage: (data) => {
      const message = parseActivityMessage(data);
      if (!message) return;
      if (message.type === "active") {
        setFeed({ jobs: message.jobs, queueLength: message.queue_length });
        for (const job of message.jobs) writeJob(client, job);
        return;
      }
      if (message.type === "progress") {
        // The strip's chip only: the job on screen hears its steps (and previews) from its own socket.
        setFeed((f) => ({ ...f, jobs: f.jobs?.map((j) => (j.job_id === message.job_id ? (applyProgress(j, message) ?? j) : j)) ?? null }));
        return;
      }
      const job = jobOf(message);
      writeJob(client, job);
      setFeed((f) => ({ ...f, jobs: f.jobs && foldJob(f.jobs, job) }));
      listener.current?.(message);
    },
  });

  // While down, ask the server (cheaply, and publicly) whether it is back: the moment it answers, reconnect.
  const down = enabled && socket.state === "down";
  const health = useQuery({ ...healthQuery, enabled: down, refetchInterval: down ? OFFLINE_PROBE_MS : false });
  useReconnectWhenBack(down, health.dataUpdatedAt, health.errorUpdatedAt, socket.reconnectNow);

  if (!enabled) return IDLE;
  return { ...feed, state: socket.state === "gone" ? "down" : socket.state };
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
