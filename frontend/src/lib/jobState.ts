/**
 * What the page shows about one job, driven by WebSocket hints and authoritative GETs.
 * A pure reducer so the rules (terminal states stick, stale progress is dropped) are testable alone.
 */
import { isTerminal, type Job, type JobStatus, type Progress, type ProgressStage, type WsMessage } from "../api/types";

export type Connection = "idle" | "connecting" | "live" | "polling";

export interface JobView {
  jobId: string | null;
  status: JobStatus | null;
  queuePosition: number | null;
  progress: Progress | null;
  error: string | null;
  outputs: string[];
  /** The last full record from GET /api/jobs/{id}: config (with the seed), inputs, times. */
  job: Job | null;
  connection: Connection;
  /** The job does not exist (404 / close 4404). */
  notFound: boolean;
}

export type JobAction =
  | { type: "watch"; jobId: string | null }
  | { type: "message"; message: WsMessage }
  | { type: "job"; job: Job }
  | { type: "connection"; connection: Connection }
  | { type: "not_found" };

export const initialJobView: JobView = {
  jobId: null,
  status: null,
  queuePosition: null,
  progress: null,
  error: null,
  outputs: [],
  job: null,
  connection: "idle",
  notFound: false,
};

const STAGE_ORDER: Record<ProgressStage, number> = {
  loading_model: 0,
  preparing: 1,
  denoising: 2,
  decoding: 3,
  saving: 4,
};

/** True when `next` is older than `current`: by timestamp first, then by stage and step. */
export function isStaleProgress(current: Progress | null, next: Progress): boolean {
  if (!current) return false;
  const a = Date.parse(current.updated_at);
  const b = Date.parse(next.updated_at);
  if (!Number.isNaN(a) && !Number.isNaN(b) && a !== b) return b < a;
  const stageDiff = STAGE_ORDER[next.stage] - STAGE_ORDER[current.stage];
  if (stageDiff !== 0) return stageDiff < 0;
  return (next.step ?? 0) < (current.step ?? 0);
}

/** Move to `status` unless we already know the job finished: a finished job never runs again. */
function withStatus(state: JobView, status: JobStatus): JobView | null {
  if (state.status && isTerminal(state.status) && status !== state.status) return null;
  return { ...state, status };
}

function forThisJob(state: JobView, jobId: string): boolean {
  return state.jobId !== null && state.jobId === jobId;
}

export function jobViewReducer(state: JobView, action: JobAction): JobView {
  switch (action.type) {
    case "watch":
      if (action.jobId === state.jobId) return state;
      return { ...initialJobView, jobId: action.jobId, connection: action.jobId ? "connecting" : "idle" };

    case "connection":
      return state.connection === action.connection ? state : { ...state, connection: action.connection };

    case "not_found":
      return { ...state, notFound: true, connection: "idle", error: "This job no longer exists." };

    case "job": {
      const { job } = action;
      if (!forThisJob(state, job.job_id)) return state;
      const next = withStatus(state, job.status);
      // A GET that raced a terminal WS message: keep the terminal state, but take the richer record.
      if (!next) return { ...state, job: state.status === job.status ? job : state.job };
      const fresher = job.progress && !isStaleProgress(state.progress, job.progress) ? job.progress : state.progress;
      return {
        ...next,
        job,
        queuePosition: job.status === "queued" ? job.queue_position : null,
        progress: job.status === "queued" ? null : fresher,
        error: job.error,
        outputs: job.outputs.length ? job.outputs : state.outputs,
      };
    }

    case "message": {
      const msg = action.message;
      if (!forThisJob(state, msg.job_id)) return state;
      switch (msg.type) {
        case "snapshot": {
          const next = withStatus(state, msg.status);
          if (!next) return state;
          const progress = msg.progress && !isStaleProgress(state.progress, msg.progress) ? msg.progress : state.progress;
          return {
            ...next,
            queuePosition: msg.status === "queued" ? msg.queue_position : null,
            progress: msg.status === "queued" ? null : progress,
            error: msg.error,
          };
        }
        case "status": {
          const next = withStatus(state, msg.status);
          if (!next) return state;
          return {
            ...next,
            queuePosition: msg.status === "queued" ? msg.queue_position : null,
            // Back in the queue (a worker died and the job is retried): old progress no longer applies.
            progress: msg.status === "queued" ? null : state.progress,
          };
        }
        case "progress": {
          if (isStaleProgress(state.progress, msg.progress)) return state;
          const next = withStatus(state, "processing");
          if (!next) return state;
          return { ...next, queuePosition: null, progress: msg.progress };
        }
        case "complete": {
          const next = withStatus(state, "complete");
          if (!next) return state;
          return { ...next, queuePosition: null, outputs: msg.outputs, error: null };
        }
        case "error": {
          const next = withStatus(state, "error");
          if (!next) return state;
          return { ...next, queuePosition: null, error: msg.error };
        }
        case "cancelled": {
          const next = withStatus(state, "cancelled");
          if (!next) return state;
          return { ...next, queuePosition: null };
        }
      }
    }
  }
  return state;
}

/** "Step 12 of 50" when denoising, else the stage's message. */
export function progressLabel(progress: Progress | null): string {
  if (!progress) return "Starting…";
  if (progress.step !== null && progress.total_steps !== null) return `Step ${progress.step} of ${progress.total_steps}`;
  return progress.message || progress.stage.replace("_", " ");
}

export function formatEta(seconds: number | null): string | null {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return null;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s left`;
  const m = Math.floor(s / 60);
  return `${m}m ${String(s % 60).padStart(2, "0")}s left`;
}
