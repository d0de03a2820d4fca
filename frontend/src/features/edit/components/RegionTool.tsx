/**
 * Paint where the edit may change image 1 (issue 20): a canvas over the picture, brush and eraser, brush size
 * (`[` and `]`), invert and clear, the region tinted. Pointer events, so mouse, pen and touch all paint; the
 * strokes land on image 1's own pixels (useRegion keeps the mask at its natural size).
 */
import { useEffect, useId, useRef, type KeyboardEvent, type PointerEvent } from "react";
import { BRUSH_SIZES, type Region } from "../hooks/useRegion";
import { regionLabel } from "../lib/regionMask";
import { Button } from "../../../components/ui";

interface Props {
  region: Region;
  /** Image 1: what the region is painted on. */
  image: { url: string; width: number; height: number; name: string };
}

/** The overlay's own resolution at most (the mask itself stays at image 1's size). */
const MAX_OVERLAY_SIDE = 1024;
const TINT = [79, 70, 229, 170] as const; // indigo, two thirds opaque

function editableTarget(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  return target instanceof HTMLInputElement && !["checkbox", "radio", "button", "range", "file"].includes(target.type);
}

export function RegionTool({ region, image }: Props) {
  const ids = { status: useId(), size: useId(), keys: useId() };
  const canvasRef = useRef<HTMLCanvasElement>(null);
  // The stroke under way: the pointer that started it (a second finger does not join in) and where it last was.
  const last = useRef<{ pointer: number; x: number; y: number } | null>(null);
  const { mask, rev, stepBrush } = region;
  const scale = Math.min(1, MAX_OVERLAY_SIDE / Math.max(image.width, image.height));
  const overlayWidth = Math.max(1, Math.round(image.width * scale));
  const overlayHeight = Math.max(1, Math.round(image.height * scale));

  // Redraw the tint after each change of the mask.
  useEffect(() => {
    const canvas = canvasRef.current;
    const context = canvas?.getContext?.("2d");
    if (!canvas || !context) return; // jsdom has no canvas drawing
    const { width, height } = canvas;
    const pixels = context.createImageData(width, height);
    if (mask) {
      const sx = mask.width / width;
      const sy = mask.height / height;
      for (let y = 0; y < height; y++) {
        const row = Math.min(mask.height - 1, Math.floor((y + 0.5) * sy)) * mask.width;
        for (let x = 0; x < width; x++) {
          if (!mask.data[row + Math.min(mask.width - 1, Math.floor((x + 0.5) * sx))]) continue;
          pixels.data.set(TINT, (y * width + x) * 4);
        }
      }
    }
    context.putImageData(pixels, 0, 0);
  }, [mask, rev, overlayWidth, overlayHeight]);

  // `[` and `]` anywhere on the page (but not while typing): the brush size.
  useEffect(() => {
    const onKey = (event: globalThis.KeyboardEvent) => {
      if (event.ctrlKey || event.metaKey || event.altKey || editableTarget(event.target)) return;
      if (event.key === "[" || event.key === "]") {
        event.preventDefault();
        stepBrush(event.key === "]" ? 1 : -1);
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [stepBrush]);

  /** The pointer in image 1's pixels, and the brush radius there. */
  const locate = (event: PointerEvent<HTMLCanvasElement>) => {
    const rect = event.currentTarget.getBoundingClientRect();
    const w = rect.width || overlayWidth;
    const h = rect.height || overlayHeight;
    return {
      point: { x: ((event.clientX - rect.left) / w) * image.width, y: ((event.clientY - rect.top) / h) * image.height },
      radius: (region.brush / 2) * (image.width / w),
    };
  };

  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>) => {
    if ((event.pointerType === "mouse" && event.button !== 0) || last.current) return;
    event.preventDefault();
    event.currentTarget.setPointerCapture?.(event.pointerId);
    const { point, radius } = locate(event);
    last.current = { pointer: event.pointerId, ...point };
    region.paint(point, point, radius);
  };
  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>) => {
    const from = last.current;
    if (!from || from.pointer !== event.pointerId) return;
    const { point, radius } = locate(event);
    last.current = { pointer: event.pointerId, ...point };
    region.paint(from, point, radius);
  };
  const onPointerEnd = (event: PointerEvent<HTMLCanvasElement>) => {
    if (last.current?.pointer === event.pointerId) last.current = null;
  };

  // Keys on the canvas itself (it takes the focus): the same size keys, Delete clears.
  const onKeyDown = (event: KeyboardEvent<HTMLCanvasElement>) => {
    if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      region.clear();
    }
  };

  const label = regionLabel(mask);
  const painted = mask !== null && !mask.empty;
  const sizeIndex = Math.max(0, BRUSH_SIZES.findIndex((s) => s >= region.brush));

  return (
    <fieldset data-testid="region-tool" className="space-y-2 rounded-xl border border-zinc-200 px-3 py-3 dark:border-zinc-800" aria-describedby={ids.status}>
      <legend className="px-1 text-sm font-medium">
        Region <span className="font-normal text-zinc-600 dark:text-zinc-400">(optional)</span>
      </legend>
      <div role="toolbar" aria-label="Region tools" className="flex flex-wrap items-center gap-1.5">
        <Button
          variant={region.tool === "brush" ? "primary" : "secondary"}
          data-testid="region-brush"
          aria-pressed={region.tool === "brush"}
          className="px-2.5 py-1 text-xs"
          onClick={() => region.setTool("brush")}
        >
          Brush
        </Button>
        <Button
          variant={region.tool === "eraser" ? "primary" : "secondary"}
          data-testid="region-eraser"
          aria-pressed={region.tool === "eraser"}
          className="px-2.5 py-1 text-xs"
          onClick={() => region.setTool("eraser")}
        >
          Eraser
        </Button>
        <label htmlFor={ids.size} className="ml-1 text-xs text-zinc-600 dark:text-zinc-400">
          Size
        </label>
        <input
          id={ids.size}
          data-testid="region-size"
          type="range"
          min={0}
          max={BRUSH_SIZES.length - 1}
          step={1}
          value={sizeIndex}
          aria-label="Brush size"
          aria-valuetext={`${region.brush} pixels`}
          aria-describedby={ids.keys}
          aria-keyshortcuts="[ ]"
          className="w-20 accent-indigo-600"
          onChange={(e) => region.setBrush(BRUSH_SIZES[Number(e.target.value)] ?? region.brush)}
        />
        <span data-testid="region-size-value" className="w-10 text-xs tabular-nums text-zinc-600 dark:text-zinc-400">
          {region.brush} px
        </span>
        <Button variant="secondary" data-testid="region-invert" className="px-2.5 py-1 text-xs" disabled={!mask} onClick={region.invert}>
          Invert
        </Button>
        <Button variant="secondary" data-testid="region-clear" className="px-2.5 py-1 text-xs" disabled={!painted} onClick={region.clear}>
          Clear
        </Button>
      </div>
      <div
        className="checker relative mx-auto overflow-hidden rounded-lg"
        style={{ aspectRatio: `${image.width} / ${image.height}`, width: `min(100%, calc(22rem * ${image.width / image.height}))` }}
      >
        <img src={image.url} alt="" aria-hidden draggable={false} className="pointer-events-none absolute inset-0 size-full select-none object-fill" />
        <canvas
          ref={canvasRef}
          data-testid="region-canvas"
          width={overlayWidth}
          height={overlayHeight}
          tabIndex={0}
          role="img"
          aria-label={`Image 1 (${image.name}, ${image.width}×${image.height}): paint the region to edit with the pointer, mouse, pen or touch. ${label}.`}
          aria-describedby={ids.keys}
          className="absolute inset-0 size-full cursor-crosshair focus-visible:outline-2 focus-visible:-outline-offset-2 focus-visible:outline-indigo-500"
          style={{ touchAction: "none" }}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerEnd}
          onPointerCancel={onPointerEnd}
          onLostPointerCapture={onPointerEnd}
          onKeyDown={onKeyDown}
        />
      </div>
      <p id={ids.status} data-testid="region-status" role="status" className="text-xs font-medium text-zinc-700 dark:text-zinc-300">
        {label}
      </p>
      <p id={ids.keys} className="text-xs text-zinc-600 dark:text-zinc-400">
        Paint where image 1 may change; outside the region it comes back exactly as it is. <kbd>[</kbd> and <kbd>]</kbd> change the brush size.
      </p>
      {region.notice && (
        <p data-testid="region-notice" role="alert" className="flex items-start justify-between gap-2 rounded-lg bg-amber-50 px-3 py-2 text-xs text-amber-900 dark:bg-amber-950 dark:text-amber-200">
          {region.notice}
          <button type="button" aria-label="Dismiss" className="shrink-0" onClick={region.dismissNotice}>
            ✕
          </button>
        </p>
      )}
    </fieldset>
  );
}
