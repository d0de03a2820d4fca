import { useId, useState, type CSSProperties, type PointerEvent } from "react";

/**
 * The edge of a region mask (white = region) drawn over a picture of its size: an SVG over the same box,
 * fitted like the picture's object-contain, whose filter keeps a ring just outside the white.
 */
function RegionOutline({ mask, style }: { mask: string; style: CSSProperties }) {
  const filter = useId().replace(/:/g, "");
  return (
    <svg data-testid="region-outline" aria-hidden className="pointer-events-none absolute" style={style}>
      <filter id={filter} x="0" y="0" width="100%" height="100%" colorInterpolationFilters="sRGB">
        <feColorMatrix in="SourceGraphic" type="luminanceToAlpha" result="region" />
        <feComponentTransfer in="region" result="solid">
          <feFuncA type="discrete" tableValues="0 1" />
        </feComponentTransfer>
        <feMorphology in="solid" operator="dilate" radius="2" result="grown" />
        <feComposite in="grown" in2="solid" operator="out" result="ring" />
        <feFlood floodColor="#facc15" />
        <feComposite in2="ring" operator="in" />
      </filter>
      <image href={mask} width="100%" height="100%" preserveAspectRatio="xMidYMid meet" filter={`url(#${filter})`} />
    </svg>
  );
}

/** Where the result is drawn in the viewer, in CSS pixels from its top-left corner. */
export interface Placement {
  x: number;
  y: number;
  width: number;
  height: number;
}

interface Props {
  /** What the result is compared with (the input, another result), or null for the result alone. */
  before: string | null;
  /** "Original input", "Result 2": what `before` is. */
  beforeLabel: string;
  after: string;
  afterLabel: string;
  /** A region mask URL whose edge is drawn on top (issue 20), or null. */
  outline?: string | null;
  placement: Placement;
  /** Zoomed in past 2 screen pixels per image pixel: show the pixels as squares, not blurred. */
  pixelated?: boolean;
  onAfterLoad?: (size: { width: number; height: number }) => void;
}

/**
 * Before/after, both drawn at `placement` (the viewer zooms and pans them together): the result underneath,
 * `before` on top, cut at the divider. The divider is dragged by its handle (the rest of the picture pans),
 * and moved from the keyboard with a range input.
 */
export function CompareSlider({ before, beforeLabel, after, afterLabel, outline = null, placement, pixelated = false, onAfterLoad }: Props) {
  const [split, setSplit] = useState(50);
  const box: CSSProperties = {
    left: placement.x,
    top: placement.y,
    width: placement.width,
    height: placement.height,
    imageRendering: pixelated ? "pixelated" : undefined,
    maxWidth: "none",
  };

  // The handle keeps the pointer for itself: its drags move the divider instead of panning the picture.
  const drag = (event: PointerEvent<HTMLElement>) => {
    event.stopPropagation();
    if (event.type === "pointerdown") event.currentTarget.setPointerCapture?.(event.pointerId);
    else if (!event.currentTarget.hasPointerCapture?.(event.pointerId)) return;
    const stage = event.currentTarget.parentElement?.getBoundingClientRect();
    if (!stage || stage.width <= 0) return;
    setSplit(Math.round(Math.max(0, Math.min(100, ((event.clientX - stage.left) / stage.width) * 100))));
  };

  return (
    <div className="absolute inset-0 select-none">
      <img
        data-testid="result-image"
        src={after}
        alt={afterLabel}
        draggable={false}
        onLoad={(e) => onAfterLoad?.({ width: e.currentTarget.naturalWidth, height: e.currentTarget.naturalHeight })}
        className="absolute block"
        style={box}
      />
      {outline && <RegionOutline mask={outline} style={box} />}
      {before && (
        <>
          <div data-testid="compare-before" className="pointer-events-none absolute inset-0" style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }}>
            <img src={before} alt={beforeLabel} aria-hidden draggable={false} className="checker absolute block object-contain" style={box} />
          </div>
          <span className="pointer-events-none absolute left-2 top-2 rounded bg-black/60 px-2 py-0.5 text-xs text-white">{beforeLabel}</span>
          <span className="pointer-events-none absolute right-2 top-2 rounded bg-black/60 px-2 py-0.5 text-xs text-white">{afterLabel}</span>
          <input
            type="range"
            min={0}
            max={100}
            value={split}
            aria-label={`Compare ${beforeLabel.toLowerCase()} and ${afterLabel.toLowerCase()}`}
            aria-valuetext={`${split}% ${beforeLabel.toLowerCase()}`}
            onChange={(e) => setSplit(Number(e.target.value))}
            className="peer sr-only"
          />
          <div
            data-testid="compare-divider"
            className="absolute inset-y-0 w-6 -translate-x-1/2 cursor-ew-resize touch-none rounded peer-focus-visible:outline-2 peer-focus-visible:outline-indigo-500"
            style={{ left: `${split}%` }}
            onPointerDown={drag}
            onPointerMove={drag}
            onDoubleClick={(e) => e.stopPropagation()}
            aria-hidden
          >
            <div className="pointer-events-none absolute inset-y-0 left-1/2 w-0.5 -translate-x-1/2 bg-white shadow-[0_0_0_1px_rgba(0,0,0,0.3)]" />
            <div className="absolute left-1/2 top-1/2 flex size-8 -translate-x-1/2 -translate-y-1/2 items-center justify-center rounded-full bg-white text-xs text-zinc-800 shadow">
              ⇔
            </div>
          </div>
        </>
      )}
    </div>
  );
}
