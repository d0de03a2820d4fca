import { useId, useState, type DragEvent } from "react";
import type { Limits } from "../../../api/types";
import type { InputImage } from "../hooks/useImageInputs";
import { readEmbeddedSettings, settingsSummary, type EmbeddedSettings } from "../lib/embeddedSettings";
import { acceptAttribute, mediaTypeOf } from "../lib/mediaType";
import { CANVAS_TYPES, formatBytes, formatPixels, imageTag } from "../lib/validation";
import { IMAGE_URL_TYPE } from "../../job/components/JobResult";
import { Button } from "../../../components/ui";

interface Props {
  limits: Limits;
  images: readonly InputImage[];
  errors: readonly string[];
  /** What was done to files on the way in (reduced before upload). */
  notes?: readonly string[];
  onAdd: (files: File[]) => void;
  /** A file that carries settings (ours, or A1111's): "Use these settings" fills the form with them. */
  onUseSettings?: (settings: EmbeddedSettings) => string[];
  /** A result or history image dragged here: one of this server's file URLs. */
  onAddUrl: (url: string) => void;
  onRemove: (id: string) => void;
  onMove: (index: number, delta: number) => void;
  /** Puts the `<imageN>` tag of the image at `index` into the instruction; absent where a model takes one image. */
  onInsertTag?: (index: number) => void;
  /** Create mode: the images are references, and optional. */
  creating?: boolean;
}

/** Thumbnails per row: three slots in one row, ten in two. */
function gridColumns(slots: number): string {
  if (slots <= 3) return "grid-cols-3";
  if (slots === 4) return "grid-cols-4";
  return "grid-cols-5";
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

/** A file that came with settings, waiting for the user's choice: use them, add the file, or both. */
interface Offer {
  id: number;
  file: File;
  settings: EmbeddedSettings;
  used: string[] | null;
}

let nextOffer = 0;

export function ImagePicker(props: Props) {
  const { limits, images, errors, notes = [], onAdd, onAddUrl, onRemove, onMove, onInsertTag, creating = false } = props;
  const inputId = useId();
  const hintId = useId();
  const [dragging, setDragging] = useState(false);
  const [offers, setOffers] = useState<Offer[]>([]);
  const full = images.length >= limits.max_images;

  /** Files carrying settings are held for the user's choice; the rest are added as inputs at once. */
  const intake = async (files: File[]) => {
    if (!props.onUseSettings) return onAdd(files);
    const found = await Promise.all(
      files.map(async (file) => (CANVAS_TYPES.includes(mediaTypeOf(file)) ? await readEmbeddedSettings(file).catch(() => null) : null)),
    );
    const plain = files.filter((_, i) => !found[i]);
    const held = files.flatMap((file, i) => {
      const settings = found[i];
      return settings ? [{ id: ++nextOffer, file, settings, used: null }] : [];
    });
    if (held.length) setOffers((prev) => [...prev, ...held]);
    if (plain.length || !held.length) onAdd(plain);
  };

  const onDrop = (event: DragEvent) => {
    event.preventDefault();
    setDragging(false);
    const files = Array.from(event.dataTransfer.files);
    const url = droppedUrl(event.dataTransfer);
    // A result dragged from this page is to be edited further, not asked about: its settings are on screen.
    if (files.length && url) onAdd(files);
    else if (url) onAddUrl(url);
    else void intake(files);
  };

  const closeOffer = (id: number) => setOffers((prev) => prev.filter((offer) => offer.id !== id));
  const takeSettings = (offer: Offer) => {
    const notes = props.onUseSettings?.(offer.settings) ?? [];
    setOffers((prev) => prev.map((o) => (o.id === offer.id ? { ...o, used: notes } : o)));
  };
  const addOffer = (offer: Offer) => {
    onAdd([offer.file]);
    closeOffer(offer.id);
  };

  return (
    <fieldset className="space-y-3">
      <legend className="mb-2 text-sm font-medium">
        {creating ? "References" : "Images"}{" "}
        <span className="font-normal text-zinc-600 dark:text-zinc-400">
          ({images.length} of {limits.max_images}
          {creating ? ", optional" : ""})
        </span>
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
          {limits.accepted_types.map((t) => t.replace("image/", "").toUpperCase()).join(", ")}. JPEG, PNG and WebP over{" "}
          {formatBytes(limits.max_image_bytes)} or {formatPixels(limits.max_image_pixels)} are reduced here to{" "}
          {formatPixels(limits.stored_input_pixels)}, the size kept; others up to {formatBytes(limits.max_image_bytes)}.
        </span>
        <input
          id={inputId}
          data-testid="image-input"
          type="file"
          multiple
          accept={acceptAttribute(limits)}
          disabled={full}
          aria-label="Add images"
          aria-describedby={hintId}
          className="sr-only"
          onChange={(e) => {
            void intake(Array.from(e.target.files ?? []));
            e.target.value = ""; // choosing the same file again must fire change
          }}
        />
      </label>

      {offers.map((offer) => (
        <div
          key={offer.id}
          data-testid="settings-offer"
          role="group"
          aria-label={`Settings in ${offer.file.name}`}
          className="space-y-2 rounded-xl border border-indigo-200 bg-indigo-50/60 px-3 py-2 text-sm dark:border-indigo-900 dark:bg-indigo-950/40"
        >
          <p>
            <span className="font-medium">{offer.file.name}</span> carries {offer.settings.source === "qie" ? "its settings" : "A1111 settings"}:{" "}
            <span data-testid="settings-summary" className="text-zinc-700 dark:text-zinc-300">
              {settingsSummary(offer.settings)}
            </span>
          </p>
          {offer.used && (
            <p role="status" data-testid="settings-used" className="text-xs text-zinc-700 dark:text-zinc-300">
              Settings filled in{offer.used.length ? `; not used: ${offer.used.join("; ")}` : ""}.
            </p>
          )}
          <div className="flex flex-wrap gap-2">
            <Button variant="primary" data-testid="use-settings" disabled={offer.used !== null} onClick={() => takeSettings(offer)}>
              {offer.used ? "Settings used" : "Use these settings"}
            </Button>
            <Button data-testid="add-as-input" disabled={full} onClick={() => addOffer(offer)}>
              Add as input
            </Button>
            <Button variant="ghost" aria-label={`Dismiss ${offer.file.name}`} onClick={() => closeOffer(offer.id)}>
              {offer.used ? "Done" : "Dismiss"}
            </Button>
          </div>
        </div>
      ))}

      {errors.length > 0 && (
        // The alert wraps the list: a list given another role loses its items' meaning (axe "listitem").
        <div data-testid="upload-error" role="alert" className="text-sm text-red-700 dark:text-red-400">
          <ul className="space-y-1">
            {errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      )}

      {notes.length > 0 && (
        <div data-testid="upload-note" role="status" className="text-sm text-zinc-700 dark:text-zinc-300">
          <ul className="space-y-1">
            {notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </div>
      )}

      {/* One slot per image the model takes: the chosen ones in order, then the free ones. */}
      <ol className={`grid ${gridColumns(limits.max_images)} gap-2`} aria-label="Chosen images, in order" data-testid="image-slots">
        {images.map((img, index) => {
          const tag = imageTag(index);
          // TIFF and HEIC: this browser may not draw them (the server reads them); their type stands in.
          const picture =
            img.width > 0 ? (
              <img src={img.url} alt={`Input ${index + 1}: ${img.file.name}`} className="checker aspect-square w-full object-cover" />
            ) : (
              <span role="img" aria-label={`Input ${index + 1}: ${img.file.name}`} className="flex aspect-square w-full items-center justify-center bg-zinc-100 p-1 text-center text-xs break-all text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">
                {mediaTypeOf(img.file).replace("image/", "").toUpperCase()} · {img.file.name}
              </span>
            );
          return (
            <li
              key={img.id}
              data-testid="input-thumb"
              data-slot={index + 1}
              className="group relative overflow-hidden rounded-lg border border-zinc-200 dark:border-zinc-800"
            >
              {onInsertTag ? (
                <button
                  type="button"
                  data-testid="insert-tag"
                  aria-label={`Insert ${tag} into the instruction (${img.file.name})`}
                  title={`Insert ${tag} into the instruction at the caret`}
                  className="block w-full cursor-copy focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-indigo-500"
                  onClick={() => onInsertTag(index)}
                >
                  {picture}
                </button>
              ) : (
                picture
              )}
              <span className="pointer-events-none absolute left-0 top-0 rounded-br bg-black/70 px-0.5 text-[10px] leading-4 tracking-tighter text-white">
                {onInsertTag ? tag : index + 1}
              </span>
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
          );
        })}
        {Array.from({ length: Math.max(0, limits.max_images - images.length) }, (_, i) => images.length + i).map((index) => (
          // Free slots are pictures of room left (the legend says how much); the drop zone above is the control.
          <li key={`free-${index}`} data-testid="empty-slot" data-slot={index + 1} aria-hidden>
            <label
              htmlFor={inputId}
              className="flex aspect-square cursor-pointer items-center justify-center rounded-lg border border-dashed border-zinc-300 text-xs text-zinc-600 hover:border-indigo-400 dark:border-zinc-700 dark:text-zinc-400"
            >
              {index + 1}
            </label>
          </li>
        ))}
      </ol>
      {onInsertTag && images.length > 0 && (
        <p className="text-xs text-zinc-600 dark:text-zinc-400">
          Click an image to put its tag, like {imageTag(0)}, into the instruction at the caret.
        </p>
      )}
      {!creating && images.length > 1 && (
        <p className="text-xs text-zinc-600 dark:text-zinc-400">The last image is the one being edited and shown as "before".</p>
      )}
    </fieldset>
  );
}
