import { useState } from "react";
import { downloadAllUrl, downloadUrl } from "../../../api/jobs";
import type { Job } from "../../../api/types";
import { useVariations, type CompareWith } from "../hooks/useVariations";
import { useViewerKeys } from "../hooks/useViewerKeys";
import { dragImageUrl } from "../lib/dragImage";
import { variationSeed } from "../lib/variations";
import { PRESSABLE, ResultViewer } from "./ResultViewer";
import { Button, linkButtonClass } from "../../../components/ui";
import { VariationGrid } from "./VariationGrid";

// Where the drop zone and the history import them from.
export { dragImageUrl, IMAGE_URL_TYPE } from "../lib/dragImage";

interface Props {
  job: Job;
  onEditResult: (index: number) => void;
  /** Reuse the inputs and settings, with result `index`'s own seed when the job made several. */
  onReuse: (index: number) => void;
}

const compareValue = (c: CompareWith) => (c.kind === "result" ? `result-${c.index}` : c.kind);
function parseCompare(value: string): CompareWith {
  const result = /^result-(\d+)$/.exec(value);
  if (result) return { kind: "result", index: Number(result[1]) };
  return value === "input" ? { kind: "input" } : { kind: "none" };
}

/**
 * A finished job's results: the picked one in the viewer (or all of them in a grid), compared with the input
 * or another result; downloaded, edited further or run again with its own seed. Left and right arrows move
 * between the results.
 */
export function JobResult({ job, onEditResult, onReuse }: Props) {
  const { outputs, inputs } = job;
  // A masked job's region is painted on image 1 and the result keeps image 1's pixels outside it: that is the
  // picture to compare with. Without a region, the last image is the one the edit most likely reworked.
  const input = inputs.length ? (job.mask ? inputs[0]! : inputs[inputs.length - 1]!) : null;
  const variations = useVariations(outputs.length, input !== null);
  const [showRegion, setShowRegion] = useState(false);
  const [root, setRoot] = useState<HTMLElement | null>(null);
  const many = outputs.length > 1;
  const toggleGrid = () => variations.setGrid((on) => !on);
  useViewerKeys(root, many ? { ArrowLeft: () => variations.step(-1), ArrowRight: () => variations.step(1), g: toggleGrid, G: toggleGrid } : {});

  const index = variations.index;
  const output = outputs[index];
  if (!output) return null;
  const seeds = outputs.map((_, i) => variationSeed(job.config.seed, i));
  const seed = seeds[index] ?? null;
  const { compareWith } = variations;
  const before = compareWith.kind === "input" ? input : compareWith.kind === "result" ? (outputs[compareWith.index] ?? null) : null;
  const beforeLabel = compareWith.kind === "result" ? `Result ${compareWith.index + 1}` : job.mask && inputs.length > 1 ? "Image 1" : "Original input";
  const reuseLabel = job.mask ? "Reuse inputs, region and settings" : "Reuse inputs and settings";

  const actions = (
    <div data-testid="result-actions" className="flex flex-wrap gap-2">
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
      <Button
        data-testid="reuse-settings"
        onClick={() => onReuse(index)}
        title={many && seed !== null ? `Result ${index + 1}'s settings: seed ${seed}, 1 image` : undefined}
      >
        {reuseLabel}
      </Button>
      {job.mask && (
        <Button data-testid="toggle-region" aria-pressed={showRegion} onClick={() => setShowRegion((on) => !on)}>
          {showRegion ? "Hide region outline" : "Show region outline"}
        </Button>
      )}
    </div>
  );

  return (
    <div ref={setRoot} className="space-y-3">
      {(many || input !== null) && (
        <div className="flex flex-wrap items-center gap-2 text-sm">
          {many && (
            <div role="group" aria-label="Show" className="inline-flex rounded-lg border border-zinc-300 p-0.5 dark:border-zinc-700">
              <Button variant="ghost" className={PRESSABLE} data-testid="show-single" aria-pressed={!variations.grid} onClick={() => variations.setGrid(false)}>
                One
              </Button>
              <Button variant="ghost" className={PRESSABLE} data-testid="show-grid" aria-pressed={variations.grid} onClick={() => variations.setGrid(true)}>
                All {outputs.length}
              </Button>
            </div>
          )}
          {!variations.grid && (
            <label className="flex items-center gap-1 text-xs text-zinc-600 dark:text-zinc-400">
              Compare with
              <select
                data-testid="compare-with"
                value={compareValue(compareWith)}
                onChange={(e) => variations.setCompareWith(parseCompare(e.target.value))}
                className="rounded border border-zinc-300 bg-white px-1 py-0.5 text-xs text-zinc-800 dark:border-zinc-700 dark:bg-zinc-900 dark:text-zinc-100"
              >
                {input !== null && <option value="input">the input</option>}
                {outputs.map((_, i) =>
                  i === index ? null : (
                    <option key={i} value={`result-${i}`}>
                      result {i + 1}
                    </option>
                  ),
                )}
                <option value="none">nothing</option>
              </select>
            </label>
          )}
          {many && (
            <span className="hidden text-xs text-zinc-600 pointer-fine:inline dark:text-zinc-400">
              <kbd>←</kbd> <kbd>→</kbd> move between them
            </span>
          )}
        </div>
      )}
      {variations.grid ? (
        <>
          {actions}
          <VariationGrid outputs={outputs} seeds={seeds} picked={index} onPick={variations.pick} onOpen={variations.open} />
        </>
      ) : (
        <ResultViewer
          after={output}
          afterLabel={many ? `Result ${index + 1}` : "Edited result"}
          before={before}
          beforeLabel={beforeLabel}
          outline={showRegion ? job.mask : null}
          actions={actions}
        />
      )}
      {job.flattened && (
        <p data-testid="flattened-note" className="rounded-lg bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">
          Transparency was flattened on white for JPEG; choose PNG or WebP to keep it.
        </p>
      )}
      {many && !variations.grid && (
        <ul className="flex flex-wrap gap-2" aria-label="Variations: pick one">
          {outputs.map((url, i) => (
            <li key={url}>
              <button
                type="button"
                data-testid="variation"
                aria-pressed={i === index}
                title={seeds[i] === null ? `Result ${i + 1}` : `Result ${i + 1}, seed ${seeds[i]}`}
                className={`block overflow-hidden rounded-lg border-2 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-500 ${
                  i === index ? "border-indigo-600 dark:border-indigo-400" : "border-transparent"
                }`}
                onClick={() => variations.pick(i)}
              >
                <img src={url} alt={`Result ${i + 1}`} draggable onDragStart={(event) => dragImageUrl(event, url)} className="checker size-16 object-cover" />
              </button>
            </li>
          ))}
        </ul>
      )}
      <p className="text-xs text-zinc-600 dark:text-zinc-400">
          {many ? `Result ${index + 1} of ${outputs.length}` : "Result"}
          {seed !== null && (
            <>
              {" "}· seed <span data-testid="picked-seed">{seed}</span>
            </>
          )}
          {" "}· drag a result onto the images box to edit it further
      </p>
    </div>
  );
}
