/** Brings back the form as it was before a reload, then keeps saving it (a moment after each change). */
import { useEffect, useRef, useState } from "react";
import { loadDraft, saveDraft } from "../lib/draftStore";
import { blobBytes, decodeMaskPng, type DecodedMask } from "../lib/maskPng";
import type { FormValues } from "../lib/validation";
import type { InputImage } from "./useImageInputs";
import type { RegionImage } from "./useRegion";

export const DRAFT_SAVE_MS = 400;

interface Options {
  ready: boolean;
  typed: FormValues | null;
  images: readonly InputImage[];
  restore: (values: Partial<FormValues>) => void;
  /** Resolves to the inputs once they are in (image 1 first). */
  addImages: (files: File[]) => Promise<readonly RegionImage[]>;
  /** The region painted on image 1 (issue 20): saved as its PNG with the rest, and brought back onto image 1. */
  region?: {
    rev: number;
    toPng: () => Promise<Blob | null>;
    load: (mask: DecodedMask | null, image1: RegionImage | null) => void;
  };
}

async function readMask(blob: Blob | null | undefined): Promise<DecodedMask | null> {
  if (!(blob instanceof Blob)) return null;
  try {
    return await decodeMaskPng(await blobBytes(blob));
  } catch {
    return null; // a draft from elsewhere: the rest of it still comes back
  }
}

export function useDraft({ ready, typed, images, restore, addImages, region }: Options) {
  const [loaded, setLoaded] = useState(false);
  const started = useRef(false);
  const loadRegion = useRef(region?.load);
  const regionPng = useRef(region?.toPng);
  useEffect(() => {
    loadRegion.current = region?.load;
    regionPng.current = region?.toPng;
  });
  const regionRev = region?.rev ?? 0;

  useEffect(() => {
    if (!ready || started.current) return;
    started.current = true;
    void (async () => {
      const draft = await loadDraft();
      if (draft?.values) restore(draft.values);
      if (draft?.images.length) {
        const added = await addImages(draft.images.map((img) => new File([img.blob], img.name, { type: img.type })));
        const mask = await readMask(draft.mask);
        if (mask && added[0]) loadRegion.current?.(mask, added[0]);
      }
      setLoaded(true);
    })();
  }, [ready, restore, addImages]);

  useEffect(() => {
    // Not before the saved one is back: that would overwrite it with an empty form.
    if (!loaded) return;
    const timer = setTimeout(() => {
      void (async () => {
        const mask = (await regionPng.current?.()) ?? null;
        await saveDraft({ values: typed, images: images.map(({ file }) => ({ name: file.name, type: file.type, blob: file })), mask });
      })();
    }, DRAFT_SAVE_MS);
    return () => clearTimeout(timer);
  }, [loaded, typed, images, regionRev]);
}
