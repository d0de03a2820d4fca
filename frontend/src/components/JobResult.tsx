import { useState, type DragEvent } from "react";
import { downloadAllUrl, downloadUrl } from "../api/jobs";
import type { Job } from "../api/types";
import { CompareSlider } from "./CompareSlider";
import { Button, linkButtonClass } from "./ui";

/** The drag payload that the drop zone takes as an input image (a URL of one of this server's files). */
export const IMAGE_URL_TYPE = "application/x-qie-image-url";

export function dragImageUrl(event: DragEvent, url: string): void {
  event.dataTransfer.setData(IMAGE_URL_TYPE, url);
  event.dataTransfer.setData("text/uri-list", new URL(url, window.location.href).href);
  event.dataTransfer.effectAllowed = "copy";
}

interface Props {
  job: Job;
  onEditResult: (index: number) => void;
  onReuse: () => void;
}

/** A finished job's results: one or a grid of variations to pick from, compare, download, edit further. */
export function JobResult({ job, onEditResult, onReuse }: Props) {
  const [picked, setPicked] = useState(0);
  const [showRegion, setShowRegion] = useState(false);
  const { outputs, inputs } = job;
  const index = Math.min(picked, outputs.length - 1);
  const output = outputs[index];
  if (!output) return null;
  const before = inputs.length ? inputs[inputs.length - 1]! : null;
  const seed = job.config.seed === null ? null : job.config.seed + index;
  const many = outputs.length > 1;

  return (
    <div className="space-y-3">
      <CompareSlider before={before} after={output} outline={showRegion ? job.mask : null} />
      {job.flattened && (
        <p data-testid="flattened-note" className="rounded-lg bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">
          Transparency was flattened on white for JPEG; choose PNG or WebP to keep it.
        </p>
      )}
      <ul className="flex flex-wrap gap-2" aria-label={many ? "Variations: pick one" : "Result"}>
        {outputs.map((url, i) => (
          <li key={url}>
            <button
              type="button"
              data-testid="variation"
              aria-pressed={i === index}
              title={seed === null ? `Result ${i + 1}` : `Result ${i + 1}, seed ${job.config.seed! + i}`}
              className={`block overflow-hidden rounded-lg border-2 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 ${
                i === index ? "border-indigo-600 dark:border-indigo-400" : "border-transparent"
              }`}
              onClick={() => setPicked(i)}
            >
              <img
                src={url}
                alt={`Result ${i + 1}`}
                draggable
                onDragStart={(event) => dragImageUrl(event, url)}
                className="checker size-16 object-cover"
              />
            </button>
          </li>
        ))}
      </ul>
      <p className="text-xs text-zinc-600 dark:text-zinc-400">
        {many ? `Result ${index + 1} of ${outputs.length}` : "Result"}
        {seed !== null && (
          <>
            {" "}· seed <span data-testid="picked-seed">{seed}</span>
          </>
        )}
        {" "}· drag a result onto the images box to edit it further
      </p>
      <div className="flex flex-wrap gap-2">
        <a data-testid="download" href={downloadUrl(job.job_id, index + 1)} download className={linkButtonClass}>
          {many ? `Download ${index + 1}` : "Download"}
        </a>
        {many && (
          <a data-testid="download-all" href={downloadAllUrl(job.job_id)} download className={linkButtonClass}>
            Download all (zip)
          </a>
        )}
        <Button data-testid="edit-result" onClick={() => onEditResult(index)}>
          Edit this result
        </Button>
        <Button data-testid="reuse-settings" onClick={onReuse}>
          {job.mask ? "Reuse inputs, region and settings" : "Reuse inputs and settings"}
        </Button>
        {job.mask && (
          <Button data-testid="toggle-region" aria-pressed={showRegion} onClick={() => setShowRegion((on) => !on)}>
            {showRegion ? "Hide region outline" : "Show region outline"}
          </Button>
        )}
      </div>
    </div>
  );
}
