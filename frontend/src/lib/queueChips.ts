/** Which of the user's active jobs the queue strip shows as chips, and which it counts as "+N more". */
import type { Job } from "../api/types";

/** How many chips a strip shows before it has measured its width (and in tests, which have no layout). */
export const UNMEASURED_FIT = 5;

/** Running jobs first (what happens now), then the queue in its order; the job on screen is always shown. */
export function chipsToShow(jobs: readonly Job[], fit: number, currentJobId: string | null): { shown: Job[]; rest: Job[] } {
  const rank = (job: Job) => (job.status === "processing" ? 0 : (job.queue_position ?? Number.MAX_SAFE_INTEGER));
  const ordered = jobs.map((job, index) => ({ job, index })).sort((a, b) => rank(a.job) - rank(b.job) || a.index - b.index).map(({ job }) => job);
  const count = Math.max(1, fit);
  if (ordered.length <= count) return { shown: ordered, rest: [] };
  const shown = ordered.slice(0, count);
  const current = ordered.findIndex((job) => job.job_id === currentJobId);
  if (current >= count) shown[count - 1] = ordered[current]!;
  const ids = new Set(shown.map((job) => job.job_id));
  return { shown, rest: ordered.filter((job) => !ids.has(job.job_id)) };
}
