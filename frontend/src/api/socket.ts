import type { WsMessage } from "./types";

/** WS /ws/{job_id}, on the same host and scheme family as the page. */
export function jobSocketUrl(jobId: string, location: Pick<Location, "protocol" | "host"> = window.location): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/${encodeURIComponent(jobId)}`;
}

/** Close code the server uses for an unknown job. */
export const WS_UNKNOWN_JOB = 4404;
export const WS_NOT_AUTHORISED = 1008;

const TYPES = new Set(["snapshot", "status", "progress", "complete", "error", "cancelled"]);

/** Parse one frame; anything malformed or of an unknown type is dropped (events are only hints). */
export function parseWsMessage(data: unknown): WsMessage | null {
  if (typeof data !== "string") return null;
  try {
    const msg: unknown = JSON.parse(data);
    if (msg && typeof msg === "object" && "type" in msg && TYPES.has(String(msg.type))) return msg as WsMessage;
  } catch {
    // fall through
  }
  return null;
}
