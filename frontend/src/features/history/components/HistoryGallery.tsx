import type { Job } from "../../../api/types";
import { keptLabel, timeAgo } from "../../../lib/format";
import type { HistoryFilter } from "../lib/jobList";
import { HistoryFilters } from "./HistoryFilters";
import { StarIcon, TrashIcon } from "../../../components/icons";
import { dragImageUrl } from "../../job/components/JobResult";
import { Button, StatusBadge } from "../../../components/ui";

interface Props {
  jobs: readonly Job[];
  total: number;
  pages: number;
  filter: HistoryFilter;
  onFilter: (change: Partial<HistoryFilter>) => void;
  error: string | null;
  loaded: boolean;
  currentJobId: string | null;
  /** Milliseconds since the epoch, for the "min ago" labels. */
  now: number;
  onOpen: (jobId: string) => void;
  onDelete: (job: Job) => void;
  onStar: (jobId: string, starred: boolean) => void;
}

const filtered = (f: HistoryFilter) => f.search.trim() !== "" || f.status !== "all" || f.starred;

export function HistoryGallery(props: Props) {
  const { jobs, total, pages, filter, error, loaded, currentJobId, now, onOpen, onDelete, onStar } = props;
  const page = filter.page;
  return (
    <section aria-labelledby="history-heading" className="space-y-3">
      <div className="flex items-baseline justify-between">
        <h2 id="history-heading" className="text-base font-semibold">
          History
        </h2>
        <span data-testid="history-total" className="text-xs text-zinc-600 dark:text-zinc-400">
          {total} job{total === 1 ? "" : "s"}
          {filtered(filter) ? " found" : ""}
        </span>
      </div>
      <HistoryFilters filter={filter} onChange={props.onFilter} />
      {error && <p className="text-sm text-red-700 dark:text-red-400">Could not load history: {error}</p>}
      {loaded && jobs.length === 0 && !error && (
        <p className="text-sm text-zinc-600 dark:text-zinc-400">{filtered(filter) ? "No jobs match." : "No edits yet."}</p>
      )}
      <ul className="grid grid-cols-2 gap-3 sm:grid-cols-3 md:grid-cols-4 lg:grid-cols-6">
        {jobs.map((job) => {
          const thumb = job.thumbnail ?? job.outputs[0] ?? job.inputs[job.inputs.length - 1] ?? null;
          const image = job.outputs[0] ?? job.inputs[job.inputs.length - 1] ?? null;
          const current = job.job_id === currentJobId;
          const kept = keptLabel(job);
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
              {/* A pointer shortcut (the button below is the keyboard's way in); dragged, it becomes an input. */}
              <div className="checker aspect-square w-full cursor-pointer bg-zinc-100 dark:bg-zinc-800" onClick={() => onOpen(job.job_id)}>
                {thumb && (
                  <img
                    data-testid="history-thumb"
                    src={thumb}
                    alt=""
                    loading="lazy"
                    draggable={image !== null}
                    onDragStart={(event) => image && dragImageUrl(event, image)}
                    className="h-full w-full object-cover"
                  />
                )}
              </div>
              <button
                type="button"
                className="block w-full space-y-1 p-2 text-left focus-visible:outline-2 focus-visible:outline-indigo-500"
                aria-current={current ? "true" : undefined}
                onClick={() => onOpen(job.job_id)}
              >
                <span className="sr-only">Open job:</span>{" "}
                <span className="line-clamp-2 text-xs" title={job.config.prompt}>
                  {job.config.prompt}
                </span>{" "}
                <span className="flex items-center justify-between gap-1">
                  <StatusBadge status={job.status} />{" "}
                  <time dateTime={job.created_at} className="text-[11px] text-zinc-600 dark:text-zinc-400">
                    {timeAgo(job.created_at, now)}
                  </time>
                </span>
                {kept && <span className="block text-[11px] text-zinc-600 dark:text-zinc-400">{kept}</span>}
              </button>
              <div className="absolute right-1 top-1 flex gap-1">
                <Button
                  variant="ghost"
                  data-testid="star-job"
                  aria-label={job.starred ? `Unstar job: ${job.config.prompt}` : `Star job: ${job.config.prompt}`}
                  aria-pressed={job.starred}
                  title={job.starred ? "Starred: kept whatever the retention" : "Star: keep it whatever the retention"}
                  className="bg-white/85 px-2 py-1 text-amber-600 dark:bg-zinc-900/85 dark:text-amber-400"
                  onClick={() => onStar(job.job_id, !job.starred)}
                >
                  <StarIcon filled={job.starred} />
                </Button>
                <Button
                  variant="ghost"
                  data-testid="delete-job"
                  aria-label={`Delete job: ${job.config.prompt}`}
                  title="Delete this job and its files (you can undo for a few seconds)"
                  className="bg-white/85 px-2 py-1 text-red-700 dark:bg-zinc-900/85 dark:text-red-400"
                  onClick={() => onDelete(job)}
                >
                  <TrashIcon />
                </Button>
              </div>
            </li>
          );
        })}
      </ul>
      {pages > 1 && (
        <nav aria-label="History pages" className="flex items-center justify-center gap-3 text-sm">
          <Button data-testid="history-prev" disabled={page === 0} onClick={() => props.onFilter({ ...filter, page: page - 1 })}>
            ← Newer
          </Button>
          <span data-testid="history-page">
            Page {page + 1} of {pages}
          </span>
          <Button data-testid="history-next" disabled={page + 1 >= pages} onClick={() => props.onFilter({ ...filter, page: page + 1 })}>
            Older →
          </Button>
        </nav>
      )}
    </section>
  );
}
