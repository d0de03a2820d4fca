/**
 * Follows WS /ws: this user's queued and running jobs (with queue positions), the queue's length, and
 * every change to them, so the queue strip and the header's count need no polling. Whole-job messages go
 * into the query cache like the job watcher's (history entries, the job on screen); progress messages
 * update the running job and its preview. Reconnects with the job watcher's backoff; while it is down the
 * page is offline as far as it knows.
 */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useRef, useState } from "react";
import { reportUnauthorised } from "../api/client";
import { activitySocketUrl, parseActivityMessage, WS_NOT_AUTHORISED } from "../api/socket";
import type { Job, JobMessage } from "../api/types";
import { applyProgress, jobOf, previewOf, type Preview } from "../lib/jobState";
import { jobQuery, writeJob } from "./queries";
import { reconnectDelay, type SocketLike } from "./useJobWatcher";

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

  useEffect(() => {
    if (!enabled) return;
    let disposed = false;
    let socket: SocketLike | null = null;
    let attempt = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;

    const down = () => {
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
        writeJob(client, jobOf(message));
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
      clearTimeout(timer);
      const s = socket;
      socket = null;
      s?.close(1000);
    };
  }, [client, deps, enabled]);

  return enabled ? activity : IDLE;
}
