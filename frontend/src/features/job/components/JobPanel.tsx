import type { EditRequest, Job } from "../../../api/types";
import type { JobWatch } from "../lib/jobState";
import { keptLabel } from "../../../lib/format";
import { variationConfig } from "../lib/variations";
import { StarIcon } from "../../../components/icons";
import { JobProgress } from "./JobProgress";
import { JobResult } from "./JobResult";
import { Button, Card, StatusBadge } from "../../../components/ui";

interface Props {
  view: JobWatch;
  cancelling: boolean;
  actionError: string | null;
  /** The server cannot be reached (progress is frozen, not counting down). */
  offline?: boolean;
  preview?: string | null;
  /** Why this server's model streams no live preview (the progress area says so instead), or null. */
  noPreviewsBecause?: string | null;
  /** The model can make an image from the instruction alone (the empty panel says so). */
  textToImage?: boolean;
  /** The open job was deleted (undo still possible). */
  deleted?: boolean;
  onCancel: () => void;
  onEditResult: (index: number) => void;
  /** `mask`: the job's region mask URL (issue 20), or null. */
  onReuse: (config: EditRequest, inputs: readonly string[], mask: string | null) => void;
  /** What Fast runs on this server's model (`limits.fast`), for the settings of a job run with it. */
  fast?: string | null;
  onStar?: (starred: boolean) => void;
  onClose: () => void;
}

/** "style 0.8, ink 1.2", or "(none)". */
function lorasLabel(config: Pick<EditRequest, "loras">): string {
  const loras = config.loras ?? [];
  return loras.length ? loras.map(({ name, weight }) => `${name} ${weight}`).join(", ") : "(none)";
}

/** Settings rows with a test id of their own. */
const ROW_IDS: Record<string, string> = { Seed: "result-seed", Fast: "result-fast", LoRAs: "result-loras", Region: "result-region" };

/** A job run with Fast: Lightning's steps, or what Fast runs on a model without a Lightning LoRA (2.1). */
function fastLabel(config: EditRequest, fast: string | null): string {
  if (!config.lightning) return "off";
  if (fast && !/lightning/i.test(fast)) return `Runs ${fast}`;
  return `Lightning, ${config.num_inference_steps} steps`;
}

/** "Painted region, edited on a crop of image 1, worked at 1024×768 (latent-mask)": where a masked job edited. */
function regionText(region: NonNullable<Job["region"]>): string {
  const [w, h] = region.working_size;
  const where = region.crop_box ? `on a crop of image 1, worked at ${w}×${h}` : `on the whole image, worked at ${w}×${h}`;
  return `Painted region, edited ${where} (${region.approach})`;
}

function Settings({ config, fast, region }: { config: EditRequest; fast: string | null; region: Job["region"] }) {
  // A Lightning job's stored steps and guidance are what ran (the server rewrote them).
  const rows: [string, string][] = [
    ["Prompt", config.prompt],
    ["Negative prompt", config.negative_prompt.trim() || "(none)"],
    ["Fast", fastLabel(config, fast)],
    ["LoRAs", lorasLabel(config)],
    ["Guidance", config.lightning ? `${config.true_cfg_scale} (off)` : String(config.true_cfg_scale)],
    ["Steps", String(config.num_inference_steps)],
    ["Seed", config.seed === null ? "random" : String(config.seed)],
    ["Variations", String(config.num_images)],
    ["Format", config.output_format.toUpperCase()],
    ["Keep input size", config.keep_input_size ? "yes" : "no"],
  ];
  if (config.aspect_ratio) rows.push(["Shape", config.aspect_ratio]);
  if (config.output_size) rows.push(["Size", config.output_size.join("×")]);
  if (region) rows.push(["Region", regionText(region)]);
  return (
    <dl data-testid="result-settings" className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
      {rows.map(([k, v]) => (
        <div key={k} className="contents">
          <dt className="text-zinc-600 dark:text-zinc-400">{k}</dt>
          <dd className="min-w-0 break-words" data-testid={ROW_IDS[k]}>
            {v}
          </dd>
        </div>
      ))}
    </dl>
  );
}

export function JobPanel(props: Props) {
  const { view, cancelling, actionError, offline = false, onCancel, onReuse, onClose } = props;
  if (!view.jobId) {
    return (
      <Card className="flex min-h-64 flex-col items-center justify-center text-center text-sm text-zinc-600 dark:text-zinc-400">
        {props.deleted ? (
          <p data-testid="job-deleted" className="font-medium text-zinc-700 dark:text-zinc-300">
            The job you had open was deleted.
          </p>
        ) : (
          <p className="font-medium text-zinc-700 dark:text-zinc-300">Your result will appear here</p>
        )}
        <p>
          {props.textToImage
            ? "Add images and describe the change, or choose Create and describe the image to make."
            : "Add an image, describe the change, and press Edit image."}
        </p>
      </Card>
    );
  }

  const { job } = view;
  const status = job?.status ?? null;
  const active = status === "queued" || status === "processing";
  const inputs = job?.inputs ?? [];
  const kept = job ? keptLabel(job) : null;
  const reuse = () => job && onReuse(job.config, job.inputs, job.mask);
  // A picked variation comes back with its own seed and one image: the run that makes it again.
  const reusePicked = (index: number) =>
    job && onReuse(job.outputs.length > 1 ? variationConfig(job.config, index) : job.config, job.inputs, job.mask);

  return (
    <Card className="space-y-4">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div className="flex items-center gap-2 text-sm">
          <span className="text-zinc-600 dark:text-zinc-400">Job</span>
          <code className="text-xs text-zinc-600 dark:text-zinc-400" title={view.jobId}>
            {view.jobId.slice(0, 8)}
          </code>
          {status ? <StatusBadge status={status} testId="job-status" /> : <span data-testid="job-status">loading</span>}
          {view.connection === "polling" && !offline && (
            <span className="text-xs text-amber-700 dark:text-amber-400" title="Live updates lost; checking every second">
              reconnecting…
            </span>
          )}
        </div>
        <div className="flex gap-2">
          {job && props.onStar && (
            <Button
              variant="ghost"
              data-testid="star"
              aria-pressed={job.starred}
              title={job.starred ? "Starred: kept whatever the retention" : "Star: keep it whatever the retention"}
              onClick={() => props.onStar?.(!job.starred)}
            >
              <StarIcon filled={job.starred} className="size-4 text-amber-500" /> {job.starred ? "Starred" : "Star"}
            </Button>
          )}
          {active && (
            <Button variant="danger" data-testid="cancel" onClick={onCancel} disabled={cancelling} title="Cancel (Esc)">
              {cancelling ? "Cancelling…" : "Cancel"} <kbd className="hidden text-xs font-normal pointer-fine:inline">Esc</kbd>
            </Button>
          )}
          <Button variant="ghost" onClick={onClose}>
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
        {job && active && <JobProgress job={job} offline={offline} preview={props.preview ?? null} noPreviewsBecause={props.noPreviewsBecause ?? null} />}
        {status === "error" && (
          <p data-testid="error-message" role="alert" className="rounded-lg bg-red-50 px-3 py-2 text-sm text-red-800 dark:bg-red-950 dark:text-red-200">
            {job?.error ?? "The edit failed."}
          </p>
        )}
        {status === "cancelled" && <p className="text-sm text-zinc-600 dark:text-zinc-400">This edit was cancelled.</p>}
        {actionError && (
          <p role="alert" className="text-sm text-red-700 dark:text-red-400">
            {actionError}
          </p>
        )}
      </div>

      {job && status === "complete" && job.outputs.length > 0 && (
        <JobResult key={job.job_id} job={job} onEditResult={props.onEditResult} onReuse={reusePicked} />
      )}

      {active && inputs.length > 0 && (
        <div className="flex gap-2">
          {inputs.map((src, i) => (
            <img key={src} src={src} alt={`Input ${i + 1}`} className="checker size-20 rounded-lg object-cover" />
          ))}
        </div>
      )}

      {kept && <p data-testid="kept-until" className="text-xs text-zinc-600 dark:text-zinc-400">{kept}</p>}

      {job && (
        <details open={status === "complete"} className="text-sm">
          <summary className="cursor-pointer select-none text-zinc-700 dark:text-zinc-300">Settings</summary>
          <div className="mt-2 space-y-2">
            <Settings config={job.config} fast={props.fast ?? null} region={job.region} />
            {status !== "complete" && (
              <Button data-testid="reuse-settings" onClick={reuse}>
                Reuse inputs and settings
              </Button>
            )}
          </div>
        </details>
      )}
    </Card>
  );
}
