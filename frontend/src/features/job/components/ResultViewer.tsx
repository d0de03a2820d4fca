import { useState, type ReactNode } from "react";
import { useFullscreen } from "../hooks/useFullscreen";
import { useViewerKeys } from "../hooks/useViewerKeys";
import { useZoomPan } from "../hooks/useZoomPan";
import { zoomPercent, type Size } from "../lib/zoom";
import { CompareSlider } from "./CompareSlider";
import { Button } from "../../../components/ui";

const ZOOM_STEP = 1.25;

/** A small toggle button's look: shaded while pressed (its aria-pressed), so the state shows, not only is told. */
export const PRESSABLE = "px-2 py-1 aria-pressed:bg-zinc-200 aria-pressed:text-zinc-900 dark:aria-pressed:bg-zinc-700 dark:aria-pressed:text-white";

/** A key's hint, on devices with a keyboard only (a phone has none to press). */
const Kbd = ({ children }: { children: string }) => <kbd className="hidden text-xs font-normal pointer-fine:inline">{children}</kbd>;

interface Props {
  after: string;
  afterLabel: string;
  before: string | null;
  beforeLabel: string;
  outline?: string | null;
  /** The result's actions (download, edit, reuse): above the picture, so they stay in view, full screen too. */
  actions?: ReactNode;
}

/**
 * One result, to look at closely: zoom (wheel, pinch, +/-), pan (drag), fit (0), 100 % (1), full screen (F),
 * the compare divider over it all, and the result's size in pixels.
 */
export function ResultViewer({ after, afterLabel, before, beforeLabel, outline = null, actions }: Props) {
  const [loaded, setLoaded] = useState<{ size: Size } | null>(null);
  // Another variation keeps the last one's size (and so the zoom and place) until it has loaded: they match.
  const size = loaded?.size ?? null;
  const [root, setRoot] = useState<HTMLElement | null>(null);
  const zoom = useZoomPan(size);
  const fullscreen = useFullscreen(root);
  useViewerKeys(root, {
    "0": zoom.fit,
    "1": zoom.toActual,
    "+": () => zoom.zoomBy(ZOOM_STEP),
    "=": () => zoom.zoomBy(ZOOM_STEP),
    "-": () => zoom.zoomBy(1 / ZOOM_STEP),
    f: fullscreen.toggle,
    F: fullscreen.toggle,
  });

  const { view, setViewport } = zoom;
  const placement = size
    ? { x: view.x, y: view.y, width: size.width * view.scale, height: size.height * view.scale }
    : { x: 0, y: 0, width: 0, height: 0 };

  return (
    <div
      ref={setRoot}
      data-testid="result-viewer"
      className={fullscreen.active ? "flex h-full flex-col gap-2 bg-white p-3 dark:bg-zinc-950" : "space-y-2"}
    >
      {actions}
      <div role="toolbar" aria-label="View" className="flex flex-wrap items-center gap-1 text-sm">
        <span data-testid="result-size" className="mr-auto text-xs text-zinc-600 tabular-nums dark:text-zinc-400">
          {size ? `${size.width} × ${size.height} px` : "…"}
        </span>
        <Button variant="ghost" className={PRESSABLE} data-testid="zoom-fit" aria-pressed={zoom.fitted} onClick={zoom.fit} title="Fit the whole result (0)">
          Fit <Kbd>0</Kbd>
        </Button>
        <Button
          variant="ghost"
          className={PRESSABLE}
          data-testid="zoom-100"
          aria-pressed={zoom.actual}
          onClick={zoom.toActual}
          title="100 %: one pixel of the result per pixel of the screen (1)"
        >
          100 % <Kbd>1</Kbd>
        </Button>
        <Button variant="ghost" className="px-2 py-1" aria-label="Zoom out" title="Zoom out (−, or the wheel)" onClick={() => zoom.zoomBy(1 / ZOOM_STEP)}>
          −
        </Button>
        <output data-testid="zoom-level" aria-label="Zoom" className="w-12 text-center text-xs tabular-nums text-zinc-700 dark:text-zinc-300">
          {zoomPercent(view, zoom.dpr)}
        </output>
        <Button variant="ghost" className="px-2 py-1" aria-label="Zoom in" title="Zoom in (+, or the wheel)" onClick={() => zoom.zoomBy(ZOOM_STEP)}>
          +
        </Button>
        {fullscreen.supported && (
          <Button variant="ghost" className={PRESSABLE} data-testid="fullscreen" aria-pressed={fullscreen.active} onClick={fullscreen.toggle} title="Full screen (F)">
            {fullscreen.active ? "Exit full screen" : "Full screen"} <Kbd>F</Kbd>
          </Button>
        )}
      </div>
      <div
        ref={setViewport}
        data-testid="viewer-viewport"
        className={`checker relative w-full overflow-hidden rounded-xl ${fullscreen.active ? "min-h-0 flex-1" : ""} ${zoom.fitted ? "cursor-zoom-in" : "cursor-grab active:cursor-grabbing"}`}
        // At "fit" a finger still scrolls the page; zoomed in, it pans the picture.
        style={{
          touchAction: zoom.fitted ? "pan-y" : "none",
          ...(fullscreen.active ? {} : { aspectRatio: size ? `${size.width} / ${size.height}` : "3 / 2", maxHeight: "70vh" }),
        }}
        {...zoom.handlers}
      >
        <CompareSlider
          before={before}
          beforeLabel={beforeLabel}
          after={after}
          afterLabel={afterLabel}
          outline={outline}
          placement={placement}
          pixelated={view.scale * zoom.dpr >= 2}
          onAfterLoad={(natural) => setLoaded({ size: natural })}
        />
      </div>
    </div>
  );
}
