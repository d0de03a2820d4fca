/**
 * The input images (up to the model's `max_images`): validated on arrival (type, count, decoded sides and aspect
 * ratio, all of them together in one request), ordered, removable. A file over the byte or pixel limit that the
 * browser can decode is reduced here to the size the server keeps (`reduceImage`), and a note says so; TIFF and
 * HEIC, which a browser cannot decode, go up as they are (size unknown here: 0×0) within the byte limit.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { Limits } from "../../../api/types";
import { readImageSize } from "../../../lib/imageSize";
import { mediaTypeOf } from "../lib/mediaType";
import { canReduce, fittedSize, needsReduction, reduceImage, reductionNote, type Size } from "../lib/reduceImage";
import { checkCount, checkDimensions, checkFile, checkType, checkUploadBytes, formatBytes, formatPixels } from "../lib/validation";

export interface InputImage {
  id: string;
  file: File;
  url: string;
  /** 0 when this browser cannot decode the file (TIFF, HEIC): the server reads it. */
  width: number;
  height: number;
}

type SizeReader = (file: File) => Promise<Size>;
type Reducer = (file: File, target: Size, maxBytes: number) => Promise<{ file: File; size: Size }>;

let nextId = 0;

type Outcome = { image: Omit<InputImage, "id" | "url">; note?: string } | { reason: string };

/** One file as it will go up: read, reduced when over a limit, checked. */
async function prepare(file: File, limits: Limits, readSize: SizeReader, reduce: Reducer): Promise<Outcome> {
  if (!canReduce(mediaTypeOf(file))) {
    const reason = checkFile(file, limits);
    return reason ? { reason } : { image: { file, width: 0, height: 0 } };
  }
  let size: Size;
  try {
    size = await readSize(file);
  } catch {
    return { reason: `${file.name} could not be read as an image.` };
  }
  if (!needsReduction(file.size, size, limits)) {
    const reason = checkDimensions(file.name, size.width, size.height, limits);
    return reason ? { reason } : { image: { file, ...size } };
  }
  // Sides and aspect are not changed by reducing: refuse what the server would refuse anyway, unreduced.
  const shape = checkDimensions(file.name, size.width, size.height, { ...limits, max_image_pixels: Infinity });
  if (shape) return { reason: shape };
  const target = fittedSize(size, Math.min(limits.stored_input_pixels, limits.max_image_pixels));
  try {
    const reduced = await reduce(file, target, limits.max_image_bytes);
    const reason = checkDimensions(file.name, reduced.size.width, reduced.size.height, limits);
    if (reason) return { reason };
    return { image: { file: reduced.file, ...reduced.size }, note: reductionNote(file.name, file.size, size, reduced.size, reduced.file.size) };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      reason: `${file.name} is ${formatBytes(file.size)}, ${size.width}×${size.height} (${formatPixels(size.width * size.height)}); the limit is ${formatBytes(limits.max_image_bytes)} and ${formatPixels(limits.max_image_pixels)}, and this browser could not reduce it (${why}). Reduce it to ${formatPixels(limits.stored_input_pixels)} and try again.`,
    };
  }
}

export function useImageInputs(limits: Limits | null, readSize: SizeReader = readImageSize, reduce: Reducer = reduceImage) {
  const [images, setImages] = useState<InputImage[]>([]);
  const [errors, setErrors] = useState<string[]>([]);
  /** What was done to files on the way in (reduced), for the page to say. */
  const [notes, setNotes] = useState<string[]>([]);
  // The list as of the latest change (state lags a render behind), plus how many files are still being read,
  // so two quick drops cannot overfill.
  const imagesRef = useRef<InputImage[]>([]);
  const pending = useRef(0);
  const commit = useCallback((next: InputImage[]) => {
    imagesRef.current = next;
    setImages(next);
  }, []);

  useEffect(() => () => imagesRef.current.forEach((img) => URL.revokeObjectURL(img.url)), []);

  const add = useCallback(
    /** Resolves to the list once they are in (image 1 first). */
    async (files: readonly File[], { replace = false } = {}): Promise<readonly InputImage[]> => {
      if (!limits) return imagesRef.current;
      // Replacing with none (a job made from its instruction alone, reused) empties the list.
      if (replace) {
        imagesRef.current.forEach((img) => URL.revokeObjectURL(img.url));
        commit([]);
      }
      if (files.length === 0) return imagesRef.current;
      const problems: string[] = [];
      const candidates: File[] = [];
      for (const file of files) {
        const reason = checkType(file, limits);
        if (reason) problems.push(reason);
        else candidates.push(file);
      }
      const { accept, reason: countReason } = checkCount(imagesRef.current.length + pending.current, candidates.length, limits);
      if (countReason) problems.push(countReason);
      const chosen = candidates.slice(0, accept);
      pending.current += chosen.length;
      let outcomes: Outcome[];
      try {
        outcomes = await Promise.all(chosen.map((file) => prepare(file, limits, readSize, reduce)));
      } finally {
        pending.current -= chosen.length;
      }
      // They all go up in one request: refuse the one that would take it over max_upload_bytes.
      const sizes = imagesRef.current.map((img) => img.file.size);
      const accepted: InputImage[] = [];
      const added: string[] = [];
      for (const outcome of outcomes) {
        if ("reason" in outcome) {
          problems.push(outcome.reason);
          continue;
        }
        const { file } = outcome.image;
        const tooMany = checkUploadBytes([...sizes, file.size], limits);
        if (tooMany) {
          problems.push(`${file.name} not added. ${tooMany}`);
          continue;
        }
        sizes.push(file.size);
        if (outcome.note) added.push(outcome.note);
        accepted.push({ ...outcome.image, id: `img-${++nextId}`, url: URL.createObjectURL(file) });
      }
      setErrors(problems);
      setNotes(added);
      if (accepted.length) commit([...imagesRef.current, ...accepted]);
      return imagesRef.current;
    },
    [limits, readSize, reduce, commit],
  );

  const remove = useCallback(
    (id: string) => {
      const gone = imagesRef.current.find((img) => img.id === id);
      if (gone) URL.revokeObjectURL(gone.url);
      commit(imagesRef.current.filter((img) => img.id !== id));
      setErrors([]);
      setNotes([]);
    },
    [commit],
  );

  /** Move the image at `index` by `delta` places (-1 left, +1 right). */
  const move = useCallback(
    (index: number, delta: number) => {
      const prev = imagesRef.current;
      const target = index + delta;
      if (target < 0 || target >= prev.length) return;
      const next = [...prev];
      [next[index], next[target]] = [next[target]!, next[index]!];
      commit(next);
    },
    [commit],
  );

  const dismissErrors = useCallback(() => {
    setErrors([]);
    setNotes([]);
  }, []);

  return { images, errors, notes, add, remove, move, dismissErrors };
}
