import type { Job } from "../api/types";
import { titlePrefix } from "../lib/jobState";
import { Button } from "./ui";

interface Props {
  /** This user's queued and running jobs, oldest first. */
  jobs: readonly Job[];
  currentJobId: string | null;
  cancelling: string | null;
  onOpen: (jobId: string) => void;
  onCancel: (jobId: string) => void;
}

function where(job: Job): string {
  if (job.status === "processing") return `running ${titlePrefix(job).trim().replace(/[[\]]/g, "")}`;
  if (job.queue_position === 1) return "next";
  return job.queue_position ? `#${job.queue_position} in queue` : "queued";
}

/** Every active job of this user, each with its place or progress, to open or cancel. */
export function QueueStrip({ jobs, currentJobId, cancelling, onOpen, onCancel }: Props) {
  if (jobs.length === 0) return null;
  return (
    <section aria-label="Your queue" data-testid="queue-strip" className="rounded-2xl border border-zinc-200 bg-white px-3 py-2 dark:border-zinc-800 dark:bg-zinc-900">
      <ul className="flex gap-2 overflow-x-auto py-1">
        {jobs.map((job) => {
          const current = job.job_id === currentJobId;
          const percent = job.status === "processing" ? Math.round(job.progress?.progress ?? 0) : 0;
          return (
            <li
              key={job.job_id}
              data-testid="queue-item"
              data-job-id={job.job_id}
              data-status={job.status}
              className={`flex shrink-0 items-center gap-1 rounded-xl border px-1 ${
                current ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/50" : "border-zinc-200 dark:border-zinc-700"
              }`}
            >
              <button
                type="button"
                aria-current={current ? "true" : undefined}
                className="flex max-w-56 items-center gap-2 rounded-lg px-2 py-1.5 text-left text-xs focus-visible:outline-2 focus-visible:outline-indigo-500"
                onClick={() => onOpen(job.job_id)}
              >
                {job.inputs.at(-1) && <img src={job.inputs.at(-1)} alt="" className="checker size-8 shrink-0 rounded object-cover" />}
                <span className="min-w-0">
                  <span className="block truncate font-medium">{job.config.prompt}</span>
                  <span data-testid="queue-where" className="block text-zinc-600 dark:text-zinc-400">
                    {where(job)}
                  </span>
                  {job.status === "processing" && (
                    <span className="mt-0.5 block h-1 w-24 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-700" aria-hidden>
                      <span className="block h-full bg-indigo-600" style={{ width: `${percent}%` }} />
                    </span>
                  )}
                </span>
              </button>
              <Button
                variant="ghost"
                data-testid="queue-cancel"
                aria-label={`Cancel job: ${job.config.prompt}`}
                className="px-2 py-1 text-red-700 dark:text-red-400"
                disabled={cancelling === job.job_id}
                onClick={() => onCancel(job.job_id)}
              >
                ✕
              </Button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
