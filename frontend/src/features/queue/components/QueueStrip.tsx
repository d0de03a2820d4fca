import { useState } from "react";
import type { Job } from "../../../api/types";
import { useFitCount } from "../../../hooks/useFitCount";
import { chipPhase, chipsToShow, type ChipPhase } from "../lib/queueChips";
import { titlePrefix } from "../../job/lib/jobState";
import { Button } from "../../../components/ui";

interface Props {
  /** This user's queued and running jobs, oldest first. */
  jobs: readonly Job[];
  currentJobId: string | null;
  cancelling: string | null;
  onOpen: (jobId: string) => void;
  onCancel: (jobId: string) => void;
  /** Cancel every queued job of this user (after a confirmation here). */
  onCancelAll?: () => Promise<unknown>;
  cancelAllError?: string | null;
}

/** Each chip is this wide (w-48) plus the gap (gap-2): how many fit is the strip's width over this. */
const CHIP_PX = 192 + 8;

function where(job: Job, phase: ChipPhase): string {
  if (phase === "running") return `running ${titlePrefix(job).trim().replace(/[[\]]/g, "")}`;
  if (phase === "finishing") return "saving…";
  if (phase === "starting" || job.queue_position === 1) return "next";
  return job.queue_position ? `#${job.queue_position} in queue` : "queued";
}

function Chip({ job, current, cancelling, onOpen, onCancel }: { job: Job; current: boolean; cancelling: boolean } & Pick<Props, "onOpen" | "onCancel">) {
  const phase = chipPhase(job);
  const percent = phase === "running" ? Math.round(job.progress?.progress ?? 0) : 0;
  return (
    <li
      data-testid="queue-item"
      data-job-id={job.job_id}
      data-status={job.status}
      data-phase={phase}
      className={`flex w-48 shrink-0 items-center gap-1 rounded-xl border px-1 ${
        current ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/50" : "border-zinc-200 dark:border-zinc-700"
      }`}
    >
      <button
        type="button"
        aria-current={current ? "true" : undefined}
        className="flex min-w-0 flex-1 items-center gap-2 rounded-lg px-1.5 py-1 text-left text-xs focus-visible:outline-2 focus-visible:outline-indigo-500"
        onClick={() => onOpen(job.job_id)}
      >
        {job.inputs.at(-1) && <img src={job.inputs.at(-1)} alt="" className="checker size-7 shrink-0 rounded object-cover" />}
        <span className="min-w-0">
          <span className="block truncate font-medium">{job.config.prompt}</span>
          <span data-testid="queue-where" className="block text-zinc-600 dark:text-zinc-400">
            {where(job, phase)}
          </span>
          {phase === "running" && (
            <span className="mt-0.5 block h-1 w-20 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-700" aria-hidden>
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
        disabled={cancelling}
        onClick={() => onCancel(job.job_id)}
      >
        ✕
      </Button>
    </li>
  );
}

/**
 * Every active job of this user, each with its place or progress, to open or cancel: one line that stays in
 * view (sticky under the header), as many chips as fit and "+N more" for the rest, and a cancel-all of the
 * queued ones behind a confirmation.
 */
export function QueueStrip({ jobs, currentJobId, cancelling, onOpen, onCancel, onCancelAll, cancelAllError = null }: Props) {
  const [listRef, fit] = useFitCount<HTMLUListElement>(CHIP_PX);
  const [expanded, setExpanded] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [cancellingAll, setCancellingAll] = useState(false);
  if (jobs.length === 0) return null;
  const { shown, rest } = chipsToShow(jobs, fit, currentJobId);
  const queued = jobs.filter((j) => j.status === "queued").length;
  const chip = (job: Job) => (
    <Chip key={job.job_id} job={job} current={job.job_id === currentJobId} cancelling={cancelling === job.job_id} onOpen={onOpen} onCancel={onCancel} />
  );

  const cancelAll = async () => {
    if (!onCancelAll) return;
    setCancellingAll(true);
    try {
      await onCancelAll();
      setConfirming(false);
      setExpanded(false);
    } catch {
      // The error shows below (cancelAllError); the confirmation stays for another try.
    } finally {
      setCancellingAll(false);
    }
  };

  return (
    <section
      aria-label="Your queue"
      data-testid="queue-strip"
      className="sticky top-[calc(var(--header-height,4rem)+0.5rem)] z-10 rounded-2xl border border-zinc-200 bg-white/95 px-3 py-1.5 shadow-sm backdrop-blur dark:border-zinc-800 dark:bg-zinc-900/95"
    >
      <div className="flex items-center gap-2">
        <ul ref={listRef} className="flex min-w-0 flex-1 gap-2 overflow-hidden py-0.5">
          {shown.map(chip)}
        </ul>
        {rest.length > 0 && (
          <Button
            variant="ghost"
            data-testid="queue-more"
            aria-expanded={expanded}
            aria-controls={expanded ? "queue-rest" : undefined}
            className="shrink-0 px-2 py-1 text-xs"
            onClick={() => setExpanded((e) => !e)}
          >
            {expanded ? "Show less" : `+${rest.length} more`}
          </Button>
        )}
        {onCancelAll && queued > 0 && !confirming && (
          <Button variant="ghost" data-testid="queue-cancel-all" className="shrink-0 px-2 py-1 text-xs text-red-700 dark:text-red-400" onClick={() => setConfirming(true)}>
            Cancel queued
          </Button>
        )}
      </div>
      {confirming && (
        <div role="group" aria-label="Cancel every queued job" className="flex flex-wrap items-center justify-end gap-2 pt-1 text-xs">
          <span>
            Cancel {queued} queued job{queued === 1 ? "" : "s"}? Running ones go on.
          </span>
          <Button variant="ghost" data-testid="queue-cancel-all-confirm" className="px-2 py-1 text-red-700 dark:text-red-400" disabled={cancellingAll} onClick={() => void cancelAll()}>
            {cancellingAll ? "Cancelling…" : `Cancel ${queued}`}
          </Button>
          <Button variant="ghost" data-testid="queue-cancel-all-keep" className="px-2 py-1" onClick={() => setConfirming(false)}>
            Keep them
          </Button>
        </div>
      )}
      {cancelAllError && (
        <p role="alert" className="pt-1 text-xs text-red-700 dark:text-red-400">
          {cancelAllError}
        </p>
      )}
      {expanded && rest.length > 0 && (
        <ul id="queue-rest" data-testid="queue-rest" className="flex max-h-48 flex-wrap gap-2 overflow-y-auto pt-1.5">
          {rest.map(chip)}
        </ul>
      )}
    </section>
  );
}
