/**
 * The rules for folding what the server tells us about a job (whole-job WebSocket messages, small
 * progress messages, GET answers) into the one record the page shows. Pure, so they are testable alone:
 * a finished job never runs again, and older progress never replaces newer progress.
 */
import {
  isTerminal,
  type Job,
  type JobMessage,
  type Progress,
  type ProgressMessage,
  type ProgressStage,
  type SubmitResponse,
  type WsMessage,
} from "../../../api/types";

export type Connection = "idle" | "connecting" | "live" | "polling";

/** What the job panel shows: the job as last heard of, and how we are hearing of it. */
export interface JobWatch {
  jobId: string | null;
  job: Job | null;
  connection: Connection;
  /** The job does not exist (GET 404 / close 4404). */
  notFound: boolean;
  /** The latest live preview its socket carried (while denoising); null before one arrives. */
  preview: Preview | null;
}

export const noJob: JobWatch = { jobId: null, job: null, connection: "idle", notFound: false, preview: null };

/** A small picture of the result as it forms (a `data:` URL), and the time of the progress it came with. */
export interface Preview {
  url: string;
  at: string;
}

/** The preview a progress message carries, if any. */
export function previewOf(message: ProgressMessage): Preview | null {
  return message.preview ? { url: message.preview, at: message.progress.updated_at } : null;
}

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

/** The job carried by a whole-job message, without the message's own fields. */
export function jobOf(message: JobMessage): Job {
  const { type, event, ...job } = message;
  return job;
}

/** The job a submit answered with, without the answer's `message`. */
export function jobOfAnswer(answer: SubmitResponse): Job {
  const { message, ...job } = answer;
  return job;
}

/** Fold a whole record into what we have. */
export function mergeJob(current: Job | undefined, next: Job): Job {
  if (!current || current.job_id !== next.job_id) return next;
  // A record that raced a terminal message (a late poll, say): the job has finished, keep that. The one way
  // back is an undone cancel: the job is queued again, and its record says so.
  if (isTerminal(current.status) && next.status !== current.status && !isUndoneCancel(current, next)) return current;
  if (next.status === "processing" && current.status === "processing" && current.progress) {
    if (!next.progress || isStaleProgress(current.progress, next.progress)) return { ...next, progress: current.progress };
  }
  return next;
}

/** `next` is `current`'s cancel undone: queued again (the server allows it moments after the cancel only). */
export function isUndoneCancel(current: Job, next: Job): boolean {
  return current.status === "cancelled" && next.status === "queued" && next.requeue_reason === "cancel_undone";
}

/** Fold a progress message in: it changes progress (and means the job runs), nothing else. */
export function applyProgress(current: Job | undefined, message: ProgressMessage): Job | undefined {
  // The snapshot always comes first; progress for a job we know nothing of has nothing to attach to.
  if (!current || current.job_id !== message.job_id || isTerminal(current.status)) return current;
  if (isStaleProgress(current.progress, message.progress)) return current;
  return { ...current, status: "processing", queue_position: null, progress: message.progress };
}

export function applyMessage(current: Job | undefined, message: WsMessage): Job | undefined {
  return message.type === "progress" ? applyProgress(current, message) : mergeJob(current, jobOf(message));
}

/** Past the last denoising step: decoding and saving, which the step ETA does not cover. */
export function isFinishing(progress: Progress | null): boolean {
  if (!progress) return false;
  if (progress.stage === "decoding" || progress.stage === "saving") return true;
  return progress.stage === "denoising" && progress.step !== null && progress.step === progress.total_steps;
}

/** "Step 12 of 50" while there are steps, "Finishing…" for decoding and saving without them, else the
 * stage's message. (The time left shows "finishing…" past the last step: see isFinishing.) */
export function progressLabel(progress: Progress | null): string {
  if (!progress) return "Starting…";
  if ((progress.stage === "decoding" || progress.stage === "saving") && progress.step === null) return "Finishing…";
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

/** Why a job is back in the queue, in the user's words; null if it never went back. */
export function requeueNote(job: Pick<Job, "requeue_reason" | "status" | "progress">): string | null {
  if (!job.requeue_reason || isTerminal(job.status)) return null;
  if (job.requeue_reason === "cancel_undone") return job.status === "queued" ? "Cancel undone: it runs next" : null;
  // A job whose worker had saved its latents goes on from there (the worker's checkpoints), not from step 1.
  const resumed = job.progress?.resumed_from_step;
  const continues = resumed ? `; it continues from step ${resumed}` : "";
  if (job.requeue_reason === "lease_expired") return `Requeued: its worker stopped answering${continues}`;
  // `shutdown` (its worker stopped on purpose, as a server does when it is stopped and started again) reads
  // the same to whoever watches the page.
  return `Requeued after a server restart${continues}`;
}

/** "[45%] ", "[queued] " or "" for the tab title. */
export function titlePrefix(job: Job | null): string {
  if (!job) return "";
  if (job.status === "processing") return `[${Math.round(job.progress?.progress ?? 0)}%] `;
  if (job.status === "queued") return "[queued] ";
  return "";
}
