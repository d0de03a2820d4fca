/**
 * Everything the edit form holds: its images, its values, the LoRAs on offer, the region painted on image 1,
 * pasted images and the draft that survives a reload. `toSubmission` turns it into what POST /api/edit takes.
 */
import { useCallback } from "react";
import type { EditRequest, Limits } from "../../../api/types";
import { useLoras } from "../../../hooks/useServerStatus";
import { isCreating } from "../lib/validation";
import { useDraft } from "./useDraft";
import { useEditForm } from "./useEditForm";
import { useImageInputs } from "./useImageInputs";
import { usePasteImages } from "./usePasteImages";
import { useRegion } from "./useRegion";

export interface Submission {
  files: File[];
  config: EditRequest;
  minImages: number;
  mask: (() => Promise<Blob | null>) | undefined;
}

export function useEditState(limits: Limits | null) {
  const inputs = useImageInputs(limits);
  const loras = useLoras();
  const form = useEditForm(limits, inputs.images, loras.loras);
  const region = useRegion(inputs.images[0] ?? null);

  const { add: addInputs } = inputs;
  const addImages = useCallback((files: File[]) => void addInputs(files), [addInputs]);
  const addFiles = useCallback((files: File[]) => addInputs(files), [addInputs]);
  usePasteImages(addImages);
  useDraft({
    ready: limits !== null && form.values !== null,
    typed: form.typed,
    images: inputs.images,
    restore: form.restore,
    addImages: addFiles,
    region: { rev: region.rev, toPng: region.toPng, load: region.load },
  });

  /** The request the form describes; null while it has a problem. */
  const toSubmission = (): Submission | null => {
    const config = form.toRequest();
    if (!config) return null;
    // Create (on a model that can) needs no image; an edit needs at least one.
    const creating = !!limits && !!form.values && isCreating(form.values, limits);
    const minImages = creating ? limits.min_images : Math.max(1, limits?.min_images ?? 1);
    // The region painted on image 1 goes with an edit (not with Create, where there is no image 1 to keep).
    const mask = creating ? undefined : region.toPng;
    return { files: inputs.images.map((img) => img.file), config, minImages, mask };
  };

  return { inputs, loras, form, region, addImages, toSubmission };
}

export type EditState = ReturnType<typeof useEditState>;
