import { useId, useState, type DragEvent } from "react";
import type { Limits } from "../api/types";
import type { InputImage } from "../hooks/useImageInputs";
import { formatBytes, formatPixels } from "../lib/validation";
import { IMAGE_URL_TYPE } from "./JobResult";
import { Button } from "./ui";

interface Props {
  limits: Limits;
  images: readonly InputImage[];
  errors: readonly string[];
  onAdd: (files: File[]) => void;
  /** A result or history image dragged here: one of this server's file URLs. */
  onAddUrl: (url: string) => void;
  onRemove: (id: string) => void;
  onMove: (index: number, delta: number) => void;
}

/** A dragged image of this page's own server (a result or history picture), if that is what was dropped. */
function droppedUrl(data: DataTransfer): string | null {
  const url = data.getData(IMAGE_URL_TYPE) || data.getData("text/uri-list").split("\n")[0]?.trim() || "";
  if (!url) return null;
  try {
    const parsed = new URL(url, window.location.href);
    return parsed.origin === window.location.origin && parsed.pathname.startsWith("/api/jobs/") ? parsed.pathname : null;
  } catch {
    return null;
  }
}

export function ImagePicker({ limits, images, errors, onAdd, onAddUrl, onRemove, onMove }: Props) {
  const inputId = useId();
  const hintId = useId();
  const [dragging, setDragging] = useState(false);
  const full = images.length >= limits.max_images;

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const files = Array.from(event.dataTransfer.files);
    const url = files.length ? null : droppedUrl(event.dataTransfer);
    if (url) onAddUrl(url);
    else onAdd(files);
  };

  return (
    <fieldset className="space-y-3">
      <legend className="mb-2 text-sm font-medium">
        Images <span className="font-normal text-zinc-600 dark:text-zinc-400">({images.length} of {limits.max_images})</span>
      </legend>

      <label
        htmlFor={inputId}
        data-testid="drop-zone"
        onDragOver={(e) => {
          e.preventDefault();
          setDragging(true);
        }}
        onDragLeave={() => setDragging(false)}
        onDrop={onDrop}
        className={`flex cursor-pointer flex-col items-center justify-center gap-1 rounded-xl border-2 border-dashed px-4 py-6 text-center text-sm transition focus-within:border-indigo-500 focus-within:ring-2 focus-within:ring-indigo-500/30 ${
          dragging
            ? "border-indigo-500 bg-indigo-50 dark:bg-indigo-950/40"
            : "border-zinc-300 hover:border-zinc-400 dark:border-zinc-700 dark:hover:border-zinc-600"
        } ${full ? "cursor-not-allowed" : ""}`}
      >
        <svg aria-hidden viewBox="0 0 24 24" className="size-7 text-zinc-400" fill="none" stroke="currentColor" strokeWidth={1.5}>
          <path d="M3 16.5V19a2 2 0 0 0 2 2h14a2 2 0 0 0 2-2v-2.5M7.5 8.5 12 4m0 0 4.5 4.5M12 4v12" strokeLinecap="round" strokeLinejoin="round" />
        </svg>
        <span className="font-medium">{full ? "Image limit reached" : "Drop images or results, click to choose, or paste"}</span>
        <span id={hintId} className="text-xs text-zinc-600 dark:text-zinc-400">
          {limits.accepted_types.map((t) => t.replace("image/", "").toUpperCase()).join(", ")} · up to{" "}
          {formatBytes(limits.max_image_bytes)} and {formatPixels(limits.max_image_pixels)} each
        </span>
        <input
          id={inputId}
          data-testid="image-input"
          type="file"
          multiple
          accept={limits.accepted_types.join(",")}
          disabled={full}
          aria-label="Add images"
          aria-describedby={hintId}
          className="sr-only"
          onChange={(e) => {
            onAdd(Array.from(e.target.files ?? []));
            e.target.value = ""; // choosing the same file again must fire change
          }}
        />
      </label>

      {errors.length > 0 && (
        <ul data-testid="upload-error" role="alert" className="space-y-1 text-sm text-red-700 dark:text-red-400">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      )}

      {images.length > 0 && (
        <ol className="grid grid-cols-3 gap-2" aria-label="Chosen images, in order">
          {images.map((img, index) => (
            <li key={img.id} data-testid="input-thumb" className="group relative overflow-hidden rounded-lg border border-zinc-200 dark:border-zinc-800">
              <img src={img.url} alt={`Input ${index + 1}: ${img.file.name}`} className="checker aspect-square w-full object-cover" />
              <span className="absolute left-1 top-1 rounded bg-black/60 px-1.5 text-xs text-white">{index + 1}</span>
              <div className="grid grid-cols-3 gap-0.5 bg-zinc-50 p-0.5 dark:bg-zinc-950">
                <Button variant="ghost" className="px-0 py-1" aria-label={`Move image ${index + 1} left`} disabled={index === 0} onClick={() => onMove(index, -1)}>
                  ←
                </Button>
                <Button variant="ghost" className="px-0 py-1 text-red-600 dark:text-red-400" aria-label={`Remove image ${index + 1}`} onClick={() => onRemove(img.id)}>
                  ✕
                </Button>
                <Button
                  variant="ghost"
                  className="px-0 py-1"
                  aria-label={`Move image ${index + 1} right`}
                  disabled={index === images.length - 1}
                  onClick={() => onMove(index, 1)}
                >
                  →
                </Button>
              </div>
            </li>
          ))}
        </ol>
      )}
      {images.length > 1 && (
        <p className="text-xs text-zinc-600 dark:text-zinc-400">The last image is the one being edited and shown as "before".</p>
      )}
    </fieldset>
  );
}
