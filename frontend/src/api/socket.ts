/**
 * The two WebSockets' URLs, close codes and frames. Everything here is typed from the generated schema: the
 * tables below name each value once and the compiler checks them against `schema.d.ts`, so a change on the
 * server that `make openapi` carries over fails `tsc` here until the page follows.
 */
import type { ActivityMessage, Job, JobMessage, ProgressMessage, WsCloseCodes, WsMessage } from "./types";

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

/** Why the server closed a socket: each code by its schema name (`WsCloseCodes` types every value as a constant). */
export const WS_CLOSE: WsCloseCodes = { normal: 1000, not_authorised: 1008, unknown_job: 4404 };

/** The keys a type requires (not the optional ones). */
type RequiredKeys<T> = { [K in keyof T]-?: Record<never, never> extends Pick<T, K> ? never : K }[keyof T];
/** Every field the schema requires, once: the compiler rejects a missing or an extra one. */
type Fields<T> = Record<RequiredKeys<T>, true>;

const JOB_FIELDS: Fields<Job> = {
  attempts: true,
  job_id: true,
  status: true,
  config: true,
  created_at: true,
  started_at: true,
  finished_at: true,
  kept_until: true,
  deleting: true,
  error: true,
  flattened: true,
  inputs: true,
  outputs: true,
  mask: true,
  region: true,
  progress: true,
  queue_position: true,
  requeue_reason: true,
  starred: true,
  thumbnail: true,
  webhook: true,
};
const JOB_MESSAGE_FIELDS: Fields<JobMessage> = { ...JOB_FIELDS, type: true, event: true };
const PROGRESS_FIELDS: Fields<ProgressMessage> = { type: true, job_id: true, status: true, progress: true, preview: true };
/** The whole-job message types (a job message's `type`), each once. */
const JOB_MESSAGE_TYPES: Record<JobMessage["type"], true> = { snapshot: true, status: true, complete: true, error: true, cancelled: true };

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;
const hasFields = (m: Record<string, unknown>, fields: object) => Object.keys(fields).every((key) => key in m);
const isJobType = (type: unknown): type is JobMessage["type"] => typeof type === "string" && Object.hasOwn(JOB_MESSAGE_TYPES, type);

function isJobMessage(m: Record<string, unknown>): m is JobMessage {
  return isJobType(m.type) && hasFields(m, JOB_MESSAGE_FIELDS);
}

function isProgressMessage(m: Record<string, unknown>): m is ProgressMessage {
  return m.type === "progress" && hasFields(m, PROGRESS_FIELDS) && isObject(m.progress);
}

function isActiveMessage(m: Record<string, unknown>): m is Extract<ActivityMessage, { type: "active" }> {
  return m.type === "active" && typeof m.queue_length === "number" && Array.isArray(m.jobs) && m.jobs.every((j: unknown) => isObject(j) && hasFields(j, JOB_FIELDS));
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

/** One frame of WS /ws: a job message, a progress message or the active jobs; null if it is not one of them. */
export function parseActivityMessage(data: unknown): ActivityMessage | null {
  const msg = parseFrame(data);
  if (!msg) return null;
  return isJobMessage(msg) || isProgressMessage(msg) || isActiveMessage(msg) ? msg : null;
}

/** One frame of WS /ws/{id}; anything that is not JSON, of an unknown type or short of a required field is dropped. */
export function parseWsMessage(data: unknown): WsMessage | null {
  const msg = parseFrame(data);
  if (!msg) return null;
  return isJobMessage(msg) || isProgressMessage(msg) ? msg : null;
}
