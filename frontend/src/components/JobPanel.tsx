import type { EditRequest } from "../api/types";
import { downloadUrl } from "../api/jobs";
import { formatEta, progressLabel, type JobWatch } from "../lib/jobState";
import { CompareSlider } from "./CompareSlider";
import { Button, Card, StatusBadge, linkButtonClass } from "./ui";

interface Props {
  view: JobWatch;
  cancelling: boolean;
  actionError: string | null;
  onCancel: () => void;
  onEditResult: () => void;
  onReuse: (config: EditRequest) => void;
  onClose: () => void;
}

function Settings({ config }: { config: EditRequest }) {
  const rows: [string, string][] = [
    ["Prompt", config.prompt],
    ["Negative prompt", config.negative_prompt.trim() || "(none)"],
    ["Guidance", String(config.true_cfg_scale)],
    ["Steps", String(config.num_inference_steps)],
    ["Seed", config.seed === null ? "random" : String(config.seed)],
    ["Format", config.output_format.toUpperCase()],
    ["Keep input size", config.keep_input_size ? "yes" : "no"],
  ];
  return (
    <dl data-testid="result-settings" className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-zinc-500">{k}</dt>
          <dd className="min-w-0 break-words" data-testid={k === "Seed" ? "result-seed" : undefined}>
            {v}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function JobPanel({ view, cancelling, actionError, onCancel, onEditResult, onReuse, onClose }: Props) {
  if (!view.jobId) {
    return (
      <Card className="flex min-h-64 flex-col items-center justify-center text-center text-sm text-zinc-500">
        <p className="font-medium text-zinc-700 dark:text-zinc-300">Your result will appear here</p>
        <p>Add an image, describe the change, and press Edit image.</p>
      </Card>
    );
  }

  const { job } = view;
  const status = job?.status ?? null;
  const progress = job?.progress ?? null;
  const active = status === "queued" || status === "processing";
  const inputs = job?.inputs ?? [];
  const before = inputs.length ? inputs[inputs.length - 1]! : null;
  const output = job?.outputs[0] ?? null;
  const percent = Math.max(0, Math.min(100, progress?.progress ?? 0));
  const eta = formatEta(progress?.eta_seconds ?? null);

  return (
    <Card className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex items-center gap-2 text-sm">
          <span className="text-zinc-500">Job</span>
          <code className="text-xs text-zinc-500 dark:text-zinc-400" title={view.jobId}>
            {view.jobId.slice(0, 8)}
          </code>
          {status ? <StatusBadge status={status} testId="job-status" /> : <span data-testid="job-status">loading</span>}
          {view.connection === "polling" && (
            <span className="text-xs text-amber-600 dark:text-amber-400" title="Live updates lost; checking every second">
              reconnecting…
            </span>
          )}
        </div>
        <div className="flex gap-2">
          {active && (
            <Button variant="danger" data-testid="cancel" onClick={onCancel} disabled={cancelling}>
              {cancelling ? "Cancelling…" : "Cancel"}
            </Button>
          )}
          <Button variant="ghost" onClick={onClose} aria-label="New edit: close this job">
            New edit
          </Button>
        </div>
      </div>

      <div aria-live="polite" className="space-y-3">
        {view.notFound && (
          <p data-testid="error-message" role="alert" className="text-sm text-red-700 dark:text-red-400">
            This job no longer exists (it may have been deleted or expired).
          </p>
        )}

        {status === "queued" && (
          <p data-testid="queue-position" className="text-sm">
            {job?.queue_position == null
              ? "Waiting in the queue…"
              : job.queue_position === 1
                ? "Next in the queue"
                : `Position ${job.queue_position} in the queue`}
          </p>
        )}

        {status === "processing" && (
          <div className="space-y-1.5">
            <div className="flex justify-between text-sm">
              <span data-testid="progress">{progressLabel(progress)}</span>
              <span className="text-zinc-500">{eta ?? ""}</span>
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
              <p className="text-xs text-zinc-500">{progress.message}</p>
            )}
          </div>
        )}

        {status === "error" && (
          <p data-testid="error-message" role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
            {job?.error ?? "The edit failed."}
          </p>
        )}
        {status === "cancelled" && <p className="text-sm text-zinc-500">This edit was cancelled.</p>}
        {actionError && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            {actionError}
          </p>
        )}
      </div>

      {status === "complete" && output && (
        <div className="space-y-3">
          <CompareSlider before={before} after={output} />
          <div className="flex flex-wrap gap-2">
            <a data-testid="download" href={downloadUrl(view.jobId)} download className={linkButtonClass}>
              Download
            </a>
            <Button data-testid="edit-result" onClick={onEditResult}>
              Edit this result
            </Button>
            {job && (
              <Button data-testid="reuse-settings" onClick={() => onReuse(job.config)}>
                Reuse settings
              </Button>
            )}
          </div>
        </div>
      )}

      {active && inputs.length > 0 && (
        <div className="flex gap-2">
          {inputs.map((src, i) => (
            <img key={src} src={src} alt={`Input ${i + 1}`} className="checker size-20 rounded-lg object-cover" />
          ))}
        </div>
      )}

      {job && (
        <details open={status === "complete"} className="text-sm">
          <summary className="cursor-pointer select-none text-zinc-600 dark:text-zinc-400">Settings</summary>
          <div className="mt-2 space-y-2">
            <Settings config={job.config} />
            {status !== "complete" && (
              <Button data-testid="reuse-settings" onClick={() => onReuse(job.config)}>
                Reuse settings
              </Button>
            )}
          </div>
        </details>
      )}
    </Card>
  );
}
