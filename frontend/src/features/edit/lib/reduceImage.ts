/**
 * Over-size uploads made to fit before they go up: a camera's 60 MB or 100 MP file is resampled in the browser
 * to the size the server keeps its inputs at anyway (`stored_input_pixels`, ~2 MP), so nothing is lost that the
 * server would not drop itself, and the upload is a few MB. Only what a canvas can decode (JPEG, PNG, WebP) can
 * be reduced here; TIFF and HEIC go up as they are, within the byte limit, and the server reads them.
 */
import type { Limits } from "../../../api/types";
import { mediaTypeOf } from "./mediaType";
import { CANVAS_TYPES, formatBytes } from "./validation";

export interface Size {
  width: number;
  height: number;
}

export const canReduce = (type: string) => CANVAS_TYPES.includes(type);

/** Whether a decoded file is over what one image may be: its bytes or its pixels. */
export function needsReduction(bytes: number, { width, height }: Size, limits: Pick<Limits, "max_image_bytes" | "max_image_pixels">): boolean {
  return bytes > limits.max_image_bytes || width * height > limits.max_image_pixels;
}

/** `size` scaled down (aspect kept) to at most `maxPixels`, as the server's `imaging.fitted_size` does. */
export function fittedSize({ width, height }: Size, maxPixels: number): Size {
  if (width * height <= maxPixels) return { width, height };
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  const newLong = Math.max(1, Math.floor(long * Math.sqrt(maxPixels / (width * height))));
  // Rounding the short side up keeps the aspect ratio within the original's, never beyond its limit.
  const newShort = Math.min(short, Math.ceil((newLong * short) / long));
  return width >= height ? { width: newLong, height: newShort } : { width: newShort, height: newLong };
}

/** How a reduced file is encoded, best first: lossless for PNG and WebP sources (alpha kept), JPEG for JPEGs;
 * then smaller encodings for when the first is still over the byte limit. */
export function encodings(sourceType: string): { type: string; quality?: number }[] {
  const lossy = [
    { type: "image/webp", quality: 0.95 },
    { type: "image/jpeg", quality: 0.92 },
    { type: "image/jpeg", quality: 0.8 },
  ];
  return sourceType === "image/jpeg" ? [{ type: "image/jpeg", quality: 0.95 }, ...lossy.slice(2)] : [{ type: "image/png" }, ...lossy];
}

/** The reduced file's name: the same, with the extension of what it now is. */
export function reducedName(name: string, type: string): string {
  const extension = { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg" }[type] ?? "png";
  const stem = name.includes(".") ? name.slice(0, name.lastIndexOf(".")) : name;
  const current = name.includes(".") ? name.slice(name.lastIndexOf(".") + 1).toLowerCase() : "";
  const same = current === extension || (extension === "jpg" && current === "jpeg");
  return same ? name : `${stem}.${extension}`;
}

/** What the page says of a reduced file, e.g. "big60.png was 58.0 MB, 9000×6000; reduced to 1773×1182 before upload."
 * One already within the stored size is only encoded smaller, and says that. */
export function reductionNote(name: string, bytes: number, from: Size, to: Size, newBytes: number): string {
  if (from.width === to.width && from.height === to.height)
    return `${name} was ${formatBytes(bytes)}, ${from.width}×${from.height}; encoded smaller (${formatBytes(newBytes)}) before upload.`;
  return `${name} was ${formatBytes(bytes)}, ${from.width}×${from.height}; reduced to ${to.width}×${to.height} before upload.`;
}

type Canvas = OffscreenCanvas | HTMLCanvasElement;

function canvasOf({ width, height }: Size): Canvas {
  if (typeof OffscreenCanvas === "function") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function draw(canvas: Canvas, bitmap: ImageBitmap, { width, height }: Size): void {
  const context = canvas instanceof HTMLCanvasElement ? canvas.getContext("2d") : canvas.getContext("2d");
  if (!context) throw new Error("this browser has no 2D canvas");
  context.drawImage(bitmap, 0, 0, width, height);
}

function encode(canvas: Canvas, type: string, quality?: number): Promise<Blob> {
  if ("convertToBlob" in canvas) return canvas.convertToBlob({ type, quality });
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("the canvas could not encode it"))), type, quality),
  );
}

/**
 * `file` resampled to `target` (decoded and resized by the browser, upright as shown), encoded to fit in
 * `maxBytes`: the first of `encodings` that does, or, when none does, smaller still. Throws when this browser
 * cannot (no createImageBitmap, a canvas too large for it).
 */
export async function reduceImage(file: File, target: Size, maxBytes: number): Promise<{ file: File; size: Size }> {
  if (typeof createImageBitmap !== "function") throw new Error("this browser cannot resample images");
  const sourceType = mediaTypeOf(file);
  let size = target;
  for (let attempt = 0; attempt < 4; attempt++) {
    const bitmap = await createImageBitmap(file, { resizeWidth: size.width, resizeHeight: size.height, resizeQuality: "high" });
    try {
      const canvas = canvasOf(size);
      draw(canvas, bitmap, size);
      let smallest: Blob | null = null;
      for (const { type, quality } of encodings(sourceType)) {
        const blob = await encode(canvas, type, quality);
        // A browser that cannot write a type writes PNG instead; that one is tried anyway.
        if (blob.size <= maxBytes) return { file: new File([blob], reducedName(file.name, blob.type), { type: blob.type }), size };
        if (!smallest || blob.size < smallest.size) smallest = blob;
      }
      // Still too many bytes (noise does not compress): fewer pixels, in proportion, with some room.
      const scale = Math.sqrt(maxBytes / (smallest?.size ?? maxBytes * 2)) * 0.9;
      size = { width: Math.max(1, Math.floor(size.width * scale)), height: Math.max(1, Math.floor(size.height * scale)) };
    } finally {
      bitmap.close();
    }
  }
  throw new Error(`it does not fit in ${formatBytes(maxBytes)}`);
}
