/**
 * Bringing past work back into the form: a job's inputs and settings (Reuse), one of its results with its
 * reference pictures (Edit this result), or any of this server's images dragged onto the drop zone. The
 * images are fetched from the server, so they come back even when the files left the browser long ago.
 */
import { useCallback, useState } from "react";
import { errorMessage } from "../../../api/client";
import { fetchFile, fetchMask } from "../../../api/jobs";
import type { EditRequest, Job } from "../../../api/types";
import type { DecodedMask } from "../lib/maskPng";
import type { RegionImage } from "./useRegion";

function extensionOf(url: string): string {
  const match = /\.([a-z0-9]+)(?:\?|$)/i.exec(url);
  return match?.[1] ?? "png";
}

const baseName = (url: string) => decodeURIComponent(url.split("?")[0]?.split("/").pop() ?? "image.png");
const jobIdOf = (url: string) => /\/api\/jobs\/([^/]+)\//.exec(url)?.[1] ?? "job";

/** The file a result is saved as, like the server's download names: edited_<id>.png, edited_<id>_2.png. */
export function resultName(jobId: string, url: string, index: number): string {
  return `edited_${jobId}${index > 0 ? `_${index + 1}` : ""}.${extensionOf(url)}`;
}

/** Reference pictures (all inputs but the last, the one being edited), fetched from the server. */
const fetchReferences = (job: Job) =>
  Promise.all(job.inputs.slice(0, -1).map((url, i) => fetchFile(url, `reference${i + 1}_${job.job_id}.${extensionOf(url)}`)));

interface Target {
  /** Resolves to the inputs once they are in (image 1 first). */
  add: (files: readonly File[], options?: { replace?: boolean }) => Promise<readonly RegionImage[]>;
  /** The region painted on image 1 is set to `mask` (none: cleared), for `image1`. */
  loadRegion?: (mask: DecodedMask | null, image1: RegionImage | null) => void;
  /** `imageCount`: the job's images (none: it was made from its instruction alone). */
  reuse: (config: EditRequest, imageCount: number) => void;
}

export function useRecall(target: Target, onDone: () => void) {
  // Tagged with the job it is about, so opening another job hides it without an effect to clear it.
  const [error, setError] = useState<{ jobId: string | null; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const { add, reuse: reuseSettings, loadRegion } = target;

  const run = useCallback(
    async (jobId: string | null, work: () => Promise<File[]>, region?: () => Promise<DecodedMask | null>) => {
      setError(null);
      setBusy(true);
      try {
        const [files, mask] = await Promise.all([work(), region?.()]);
        const images = await add(files, { replace: true });
        if (region) loadRegion?.(mask ?? null, images[0] ?? null);
        onDone();
      } catch (failure) {
        setError({ jobId, message: errorMessage(failure) });
      } finally {
        setBusy(false);
      }
    },
    [add, onDone, loadRegion],
  );

  /** The job's input images (in order), its settings, and its region (`mask`, the job's mask URL; none clears it). */
  const reuse = useCallback(
    (config: EditRequest, inputs: readonly string[], jobId: string | null = null, mask: string | null = null) => {
      reuseSettings(config, inputs.length);
      void run(
        jobId,
        () => Promise.all(inputs.map((url) => fetchFile(url, baseName(url)))),
        () => (mask ? fetchMask(mask) : Promise.resolve(null)),
      );
    },
    [reuseSettings, run],
  );

  /**
   * Result `index` becomes the image being edited; the job's reference pictures stay in front of it. The
   * region stays when the new image 1 has its size (useRegion), and is cleared, saying so, otherwise.
   */
  const editResult = useCallback(
    (job: Job, index: number) => {
      const output = job.outputs[index];
      if (!output) return;
      void run(job.job_id, async () => [...(await fetchReferences(job)), await fetchFile(output, resultName(job.job_id, output, index))]);
    },
    [run],
  );

  /** An image of this server dropped on the form: added as the next input. */
  const addUrl = useCallback(
    async (url: string) => {
      setError(null);
      try {
        const id = jobIdOf(url);
        const name = /\/files\/output_(\d+)/.exec(url);
        const file = await fetchFile(url, name ? resultName(id, url, Number(name[1]) - 1) : baseName(url));
        await add([file]);
      } catch (failure) {
        setError({ jobId: null, message: errorMessage(failure) });
      }
    },
    [add],
  );

  return { reuse, editResult, addUrl, busy, error };
}
