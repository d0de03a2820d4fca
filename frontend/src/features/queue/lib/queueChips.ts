/** Which of the user's active jobs the queue strip shows as chips, and which it counts as "+N more". */
import type { Job } from "../../../api/types";

/** How many chips a strip shows before it has measured its width (and in tests, which have no layout). */
export const UNMEASURED_FIT = 5;

/**
 * Where a job is, as the strip says it. A worker holds up to three jobs at once: one whose result is being saved,
 * the one its model runs, and the next, claimed ahead so that it starts at once. All three are `processing`, but
 * only the one the model works on is running: the others are "finishing" and "starting".
 */
export type ChipPhase = "finishing" | "running" | "starting" | "queued";

export function chipPhase(job: Job): ChipPhase {
  if (job.status !== "processing") return "queued";
  const stage = job.progress?.stage;
  if (stage === undefined || stage === "preparing") return "starting";
  if (stage === "saving") return "finishing";
  return "running"; // loading the model, denoising, decoding: the model's work
}

const PHASE_ORDER: Record<ChipPhase, number> = { finishing: 0, running: 1, starting: 2, queued: 3 };

/** In the order things happen (finishing, running, starting, then the queue in its order); the job on screen is
 * always shown. */
export function chipsToShow(jobs: readonly Job[], fit: number, currentJobId: string | null): { shown: Job[]; rest: Job[] } {
  const rank = (job: Job) => PHASE_ORDER[chipPhase(job)] * 1e9 + (job.queue_position ?? 0);
  const ordered = jobs.map((job, index) => ({ job, index })).sort((a, b) => rank(a.job) - rank(b.job) || a.index - b.index).map(({ job }) => job);
  const count = Math.max(1, fit);
  if (ordered.length <= count) return { shown: ordered, rest: [] };
  const shown = ordered.slice(0, count);
  const current = ordered.findIndex((job) => job.job_id === currentJobId);
  if (current >= count) shown[count - 1] = ordered[current]!;
  const ids = new Set(shown.map((job) => job.job_id));
  return { shown, rest: ordered.filter((job) => !ids.has(job.job_id)) };
}
