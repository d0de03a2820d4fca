import type { ActiveJobsMessage, ActivityMessage, JobMessage, ProgressMessage, WsMessage } from "./types";

/** WS /ws/{job_id}, on the same host and scheme family as the page. */
export function jobSocketUrl(jobId: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/${encodeURIComponent(jobId)}`;
}

/** WS /ws: the caller's active jobs and the queue's length, then every change to them. */
export function activitySocketUrl(location: Pick<Location, "protocol" | "host"> = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

/** Close code the server uses for an unknown (or deleted) job. */
export const WS_UNKNOWN_JOB = 4404;
export const WS_NOT_AUTHORISED = 1008;

const JOB_TYPES: ReadonlySet<unknown> = new Set(["snapshot", "status", "complete", "error", "cancelled"]);
const STATUSES: ReadonlySet<unknown> = new Set(["queued", "processing", "complete", "error", "cancelled"]);

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;
const isStrings = (x: unknown): boolean => Array.isArray(x) && x.every((s) => typeof s === "string");
const isProgress = (x: unknown): boolean =>
  isObject(x) && typeof x.stage === "string" && typeof x.progress === "number" && typeof x.updated_at === "string";

/** The fields the page reads, checked at the boundary: the job panel trusts them afterwards. */
function isJobMessage(m: Record<string, unknown>): m is JobMessage {
  return (
    JOB_TYPES.has(m.type) &&
    typeof m.job_id === "string" &&
    STATUSES.has(m.status) &&
    isObject(m.config) &&
    typeof m.config.prompt === "string" &&
    typeof m.created_at === "string" &&
    isStrings(m.inputs) &&
    isStrings(m.outputs) &&
    (m.progress === null || isProgress(m.progress))
  );
}

function isProgressMessage(m: Record<string, unknown>): m is ProgressMessage {
  return m.type === "progress" && typeof m.job_id === "string" && isProgress(m.progress);
}

function isActiveMessage(m: Record<string, unknown>): m is ActiveJobsMessage {
  return (
    m.type === "active" &&
    typeof m.queue_length === "number" &&
    Array.isArray(m.jobs) &&
    m.jobs.every((job: unknown) => isObject(job) && isJobMessage({ ...job, type: "status" }))
  );
}

/** One frame of WS /ws: a job message, a progress message or the active jobs; null if malformed. */
export function parseActivityMessage(data: unknown): ActivityMessage | null {
  const msg = parseFrame(data);
  if (!msg) return null;
  return isJobMessage(msg) || isProgressMessage(msg) || isActiveMessage(msg) ? msg : null;
}

function parseFrame(data: unknown): Record<string, unknown> | null {
  if (typeof data !== "string") return null;
  try {
    const msg: unknown = JSON.parse(data);
    return isObject(msg) ? msg : null;
  } catch {
    return null;
  }
}

/** Parse one frame; anything malformed or of an unknown type is dropped. */
export function parseWsMessage(data: unknown): WsMessage | null {
  const msg = parseFrame(data);
  if (!msg) return null;
  return isJobMessage(msg) || isProgressMessage(msg) ? msg : null;
}
