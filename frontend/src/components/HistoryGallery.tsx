import type { Job } from "../api/types";
import { TrashIcon } from "./icons";
import { Button, StatusBadge } from "./ui";

function timeAgo(iso: string, now: number): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(t).toLocaleDateString();
}

interface Props {
  jobs: readonly Job[];
  total: number;
  error: string | null;
  loaded: boolean;
  currentJobId: string | null;
  /** Milliseconds since the epoch, for the "min ago" labels. */
  now: number;
  onOpen: (jobId: string) => void;
  onDelete: (jobId: string) => void;
}

export function HistoryGallery({ jobs, total, error, loaded, currentJobId, now, onOpen, onDelete }: Props) {
  return (
    <section aria-labelledby="history-heading" className="space-y-3">
      <div className="flex items-baseline justify-between">
        <h2 id="history-heading" className="text-base font-semibold">
          History
        </h2>
        <span className="text-xs text-zinc-500">{total} job{total === 1 ? "" : "s"}</span>
      </div>
      {error && <p className="text-sm text-red-700 dark:text-red-400">Could not load history: {error}</p>}
      {loaded && jobs.length === 0 && !error && <p className="text-sm text-zinc-500">No edits yet.</p>}
      <ul className="grid grid-cols-2 gap-3 sm:grid-cols-3 md:grid-cols-4 lg:grid-cols-6">
        {jobs.map((job) => {
          const thumb = job.thumbnail ?? job.outputs[0] ?? job.inputs[job.inputs.length - 1] ?? null;
          const current = job.job_id === currentJobId;
          return (
            <li
              key={job.job_id}
              data-testid="history-item"
              data-job-id={job.job_id}
              data-status={job.status}
              className={`group relative overflow-hidden rounded-xl border bg-white transition dark:bg-zinc-900 ${
                current ? "border-indigo-500 ring-2 ring-indigo-500/30" : "border-zinc-200 dark:border-zinc-800"
              }`}
            >
              <button
                type="button"
                className="block w-full text-left focus-visible:outline-2 focus-visible:outline-indigo-500"
                aria-label={`Open job: ${job.config.prompt} (${job.status})`}
                aria-current={current ? "true" : undefined}
                onClick={() => onOpen(job.job_id)}
              >
                <div className="checker aspect-square w-full bg-zinc-100 dark:bg-zinc-800">
                  {thumb && <img src={thumb} alt="" loading="lazy" className="h-full w-full object-cover" />}
                </div>
                <div className="space-y-1 p-2">
                  <p className="line-clamp-2 text-xs" title={job.config.prompt}>
                    {job.config.prompt}
                  </p>
                  <div className="flex items-center justify-between gap-1">
                    <StatusBadge status={job.status} />
                    <time dateTime={job.created_at} className="text-[11px] text-zinc-500">
                      {timeAgo(job.created_at, now)}
                    </time>
                  </div>
                </div>
              </button>
              <Button
                variant="ghost"
                data-testid="delete-job"
                aria-label={`Delete job: ${job.config.prompt}`}
                title="Delete this job and its files"
                className="absolute right-1 top-1 bg-white/80 px-2 py-1 text-red-600 dark:bg-zinc-900/80 dark:text-red-400"
                onClick={() => onDelete(job.job_id)}
              >
                <TrashIcon />
              </Button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
