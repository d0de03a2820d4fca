/**
 * The input images (up to the model's `max_images`): validated on arrival (type, bytes, all of them together in one request, decoded
 * pixels, sides and aspect ratio, count), ordered, removable.
 */
import { useCallback, useEffect, useRef, useState } from "react";
import type { Limits } from "../api/types";
import { readImageSize } from "../lib/imageSize";
import { checkCount, checkDimensions, checkFile, checkUploadBytes } from "../lib/validation";

export interface InputImage {
  id: string;
  file: File;
  url: string;
  width: number;
  height: number;
}

type SizeReader = (file: File) => Promise<{ width: number; height: number }>;

let nextId = 0;

export function useImageInputs(limits: Limits | null, readSize: SizeReader = readImageSize) {
  const [images, setImages] = useState<InputImage[]>([]);
  const [errors, setErrors] = useState<string[]>([]);
  // The list as of the latest change (state lags a render behind), plus files still being decoded,
  // so two quick drops cannot overfill.
  const imagesRef = useRef<InputImage[]>([]);
  const pending = useRef<number[]>([]);
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
        const reason = checkFile(file, limits);
        if (reason) problems.push(reason);
        else candidates.push(file);
      }
      const { accept, reason: countReason } = checkCount(
        imagesRef.current.length + pending.current.length,
        candidates.length,
        limits,
      );
      if (countReason) problems.push(countReason);
      // They all go up in one request: refuse the one that would take it over max_upload_bytes.
      const sizes = [...imagesRef.current.map((img) => img.file.size), ...pending.current];
      const chosen: File[] = [];
      for (const file of candidates.slice(0, accept)) {
        const reason = checkUploadBytes([...sizes, file.size], limits);
        if (reason) {
          problems.push(`${file.name} not added. ${reason}`);
        } else {
          sizes.push(file.size);
          chosen.push(file);
        }
      }
      const mine = chosen.map((file) => file.size);
      pending.current = [...pending.current, ...mine];

      const decoded = await Promise.all(
        chosen.map(async (file) => {
          try {
            const { width, height } = await readSize(file);
            const reason = checkDimensions(file.name, width, height, limits);
            return reason ? { reason } : { image: { file, width, height } };
          } catch {
            return { reason: `${file.name} could not be read as an image.` };
          }
        }),
      );
      for (const size of mine) pending.current.splice(pending.current.indexOf(size), 1);
      const accepted: InputImage[] = [];
      for (const result of decoded) {
        if ("reason" in result && result.reason) {
          problems.push(result.reason);
        } else if ("image" in result && result.image) {
          accepted.push({ ...result.image, id: `img-${++nextId}`, url: URL.createObjectURL(result.image.file) });
        }
      }
      setErrors(problems);
      if (accepted.length) commit([...imagesRef.current, ...accepted]);
      return imagesRef.current;
    },
    [limits, readSize, commit],
  );

  const remove = useCallback(
    (id: string) => {
      const gone = imagesRef.current.find((img) => img.id === id);
      if (gone) URL.revokeObjectURL(gone.url);
      commit(imagesRef.current.filter((img) => img.id !== id));
      setErrors([]);
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

  const dismissErrors = useCallback(() => setErrors([]), []);

  return { images, errors, add, remove, move, dismissErrors };
}
