import type { Job } from "../../../api/types";
import { formatEta, isFinishing, progressLabel, requeueNote } from "../lib/jobState";

interface Props {
  job: Job;
  /** The server cannot be reached: the last progress stays, without a countdown that means nothing now. */
  offline: boolean;
  preview: string | null;
  /** Why this model streams no live preview: said in place of the preview box. */
  noPreviewsBecause?: string | null;
}

/**
 * The live preview, in a box of fixed height from the moment the job runs, so nothing below moves when the
 * first picture arrives or as it changes. Until then, the image being edited, faded.
 */
function PreviewBox({ preview, placeholder }: { preview: string | null; placeholder: string | null }) {
  return (
    <div className="relative flex h-64 w-full items-center justify-center overflow-hidden rounded-lg bg-zinc-100 dark:bg-zinc-800/60">
      {preview ? (
        <img data-testid="preview" src={preview} alt="Live preview of the result as it forms" className="size-full object-contain" />
      ) : (
        <>
          {placeholder && <img src={placeholder} alt="" className="size-full object-contain opacity-25 blur-sm" />}
          <span className="absolute px-3 text-center text-xs text-zinc-700 dark:text-zinc-300">A preview shows here as the result forms</span>
        </>
      )}
    </div>
  );
}

/** A queued job's place, a running job's step, bar, time left (or "finishing…") and preview. */
export function JobProgress({ job, offline, preview, noPreviewsBecause = null }: Props) {
  const { progress } = job;
  const requeued = requeueNote(job);
  const percent = Math.max(0, Math.min(100, progress?.progress ?? 0));
  const finishing = isFinishing(progress);
  const eta = offline || finishing ? null : formatEta(progress?.eta_seconds ?? null);

  return (
    <div className="space-y-3">
      {requeued && (
        <p data-testid="requeued" className="rounded-lg bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:bg-amber-950 dark:text-amber-200">
          {requeued}
          {job.attempts > 1 ? ` (run ${job.attempts})` : ""}
        </p>
      )}
      {job.status === "queued" && (
        <p data-testid="queue-position" className="text-sm">
          {job.queue_position == null
            ? "Waiting in the queue…"
            : job.queue_position === 1
              ? "Next in the queue"
              : `Position ${job.queue_position} in the queue`}
        </p>
      )}
      {job.status === "processing" && (
        <div className="space-y-1.5">
          <div className="flex justify-between gap-2 text-sm">
            <span data-testid="progress">{progressLabel(progress)}</span>
            <span data-testid="eta" className="text-zinc-600 dark:text-zinc-400">
              {offline ? "paused: server offline" : finishing ? "finishing…" : (eta ?? "")}
            </span>
          </div>
          <div
            role="progressbar"
            aria-label="Edit progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(percent)}
            className="h-2 overflow-hidden rounded-full bg-zinc-200 dark:bg-zinc-800"
          >
            <div className="h-full rounded-full bg-indigo-600 transition-[width] duration-300" style={{ width: `${percent}%` }} />
          </div>
          {progress && progress.step !== null && progress.message && progress.message !== progressLabel(progress) && (
            <p className="text-xs text-zinc-600 dark:text-zinc-400">{progress.message}</p>
          )}
          {noPreviewsBecause && !preview ? (
            <p data-testid="no-previews" className="rounded-lg bg-zinc-100 px-3 py-2 text-sm text-zinc-700 dark:bg-zinc-800/60 dark:text-zinc-300">
              {noPreviewsBecause}
            </p>
          ) : (
            <PreviewBox preview={preview} placeholder={job.inputs.at(-1) ?? null} />
          )}
        </div>
      )}
    </div>
  );
}
