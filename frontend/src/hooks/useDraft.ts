/** Brings back the form as it was before a reload, then keeps saving it (a moment after each change). */
import { useEffect, useRef, useState } from "react";
import { loadDraft, saveDraft } from "../lib/draftStore";
import type { FormValues } from "../lib/validation";
import type { InputImage } from "./useImageInputs";

export const DRAFT_SAVE_MS = 400;

interface Options {
  ready: boolean;
  typed: FormValues | null;
  images: readonly InputImage[];
  restore: (values: Partial<FormValues>) => void;
  addImages: (files: File[]) => Promise<void>;
}

export function useDraft({ ready, typed, images, restore, addImages }: Options) {
  const [loaded, setLoaded] = useState(false);
  const started = useRef(false);

  useEffect(() => {
    if (!ready || started.current) return;
    started.current = true;
    void (async () => {
      const draft = await loadDraft();
      if (draft?.values) restore(draft.values);
      if (draft?.images.length) {
        await addImages(draft.images.map((img) => new File([img.blob], img.name, { type: img.type })));
      }
      setLoaded(true);
    })();
  }, [ready, restore, addImages]);

  useEffect(() => {
    // Not before the saved one is back: that would overwrite it with an empty form.
    if (!loaded) return;
    const timer = setTimeout(() => {
      void saveDraft({ values: typed, images: images.map(({ file }) => ({ name: file.name, type: file.type, blob: file })) });
    }, DRAFT_SAVE_MS);
    return () => clearTimeout(timer);
  }, [loaded, typed, images]);
}
